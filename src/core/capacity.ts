/**
 * @module How much an assigner pass can still place, per pool: the capacity count it keeps while
 * it places sessions, and the pools whose verdict capacity could change.
 */
import type { Decision } from './scheduler.js';
import type { Pool, RunnerState } from './types.js';

/** What capacity reads of a live runner (a store `LiveRunner` fits as is). */
export interface CapacityRunner {
  poolId: string;
  state: RunnerState;
  sessionId: string | null;
  draining: boolean;
}

/**
 * Per pool, how many sessions this snapshot could still place there without waiting: idle
 * unbound runners plus, for an active managed pool, its free slots (unlimited when it has no
 * max). Deliberately generous (it ignores selectors and health): it only has to be zero when the
 * pool can take no session.
 */
export function assignableCapacity(snap: {
  pools: readonly Pool[];
  live: readonly CapacityRunner[];
}): Map<string, number> {
  const cap = new Map<string, number>();
  const perPool = new Map<string, number>();
  for (const r of snap.live) {
    perPool.set(r.poolId, (perPool.get(r.poolId) ?? 0) + 1);
    if (r.state === 'idle' && r.sessionId === null && !r.draining) cap.set(r.poolId, (cap.get(r.poolId) ?? 0) + 1);
  }
  for (const p of snap.pools) {
    if (p.mode !== 'managed' || !p.active) continue;
    const free =
      p.maxRunners === null ? Number.POSITIVE_INFINITY : Math.max(0, p.maxRunners - (perPool.get(p.id) ?? 0));
    cap.set(p.id, (cap.get(p.id) ?? 0) + free);
  }
  return cap;
}

/** Whether any pool has room left. */
export function hasCapacity(capacity: ReadonlyMap<string, number>): boolean {
  for (const n of capacity.values()) if (n > 0) return true;
  return false;
}

/** Pools whose verdict could turn into a placement if they had capacity (see the assigner's WaitMemo). */
export function capacityCandidates(d: Decision): string[] {
  return d.verdicts
    .filter((v) => v.reason === null || v.reason === 'lower_priority' || v.reason === 'at_capacity')
    .map((v) => v.poolId);
}
