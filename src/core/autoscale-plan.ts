/**
 * @module The warm-pool autoscaler's plan for one managed pool (pure): how many runners to start and
 * which idle ones to stop. The autoscaler (src/server/autoscaler.ts) carries it out.
 */
import type { Pool, RunnerState } from './types.js';

/** Runner states that count as "warm" when unbound: ready, or on the way to ready. */
const WARMING = new Set<RunnerState>(['provisioning', 'connecting', 'idle']);

/** What one pool should do now. */
export interface ScalePlan {
  /** Runners to provision (unbound). */
  provision: number;
  /** Idle unbound runners to stop, oldest idle first. */
  reap: string[];
}

/** What the plan reads of a live runner (a store `Runner` fits as is). */
export interface PlanRunner {
  id: string;
  state: RunnerState;
  sessionId: string | null;
  idleSince: number | null;
  draining: boolean;
}

/**
 * Decides a managed pool's next step from its live runners.
 * @example planPool({minRunners: 2, maxRunners: 4, idleTimeoutMs: 60_000, active: true}, [], now)
 *   // → { provision: 2, reap: [] }
 */
export function planPool(
  pool: Pick<Pool, 'minRunners' | 'maxRunners' | 'idleTimeoutMs' | 'active'>,
  live: readonly PlanRunner[],
  now: number,
): ScalePlan {
  const warm = live.filter((r) => r.sessionId === null && !r.draining && WARMING.has(r.state));
  const min = pool.active ? pool.minRunners : 0;
  const room = pool.maxRunners === null ? Number.POSITIVE_INFINITY : Math.max(0, pool.maxRunners - live.length);
  const provision = Math.max(0, Math.min(min - warm.length, room));
  const reap: string[] = [];
  let excess = warm.length - min;
  if (excess > 0) {
    const idle = warm
      .filter((r) => r.state === 'idle')
      .sort((a, b) => (a.idleSince ?? 0) - (b.idleSince ?? 0) || (a.id < b.id ? -1 : 1));
    for (const r of idle) {
      if (excess <= 0) break;
      const expired = !pool.active || (pool.idleTimeoutMs !== null && now - (r.idleSince ?? now) >= pool.idleTimeoutMs);
      if (!expired) continue;
      reap.push(r.id);
      excess--;
    }
  }
  return { provision, reap };
}
