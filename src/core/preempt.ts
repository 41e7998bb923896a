/**
 * @module Which idle sessions give up their runner to sessions that wait for one (pure).
 *
 * A session that has finished its tasks keeps its runner (idle, bound to it) until
 * `sessions.idle_timeout`. When another session waits because the only pool that could take it has
 * no room left, and an idle session holds a runner there, the idle session is suspended with its
 * pool's suspend strategy so the waiting one can run. {@link choosePreemptions} picks the pairs:
 *
 * - waiting sessions in queue order (higher priority first, then the oldest queued task first);
 * - for each, one victim among the runner holders in a pool it is blocked on: the session idle the
 *   longest, that has been idle at least `minIdleMs`, in a pool where preemption is enabled;
 * - never a session that is not `idle` (active, suspending, ...), has a queued or running task, or
 *   whose runner is not `idle`; a victim is taken at most once.
 */
import type { RunnerState, SessionState } from './types.js';

/** A session waiting for room, and the pools where freeing a runner would let it in. */
export interface WaitingSession {
  id: string;
  priority: number;
  /** When its oldest queued task was created (queue order within a priority). */
  queuedAt: number;
  /** Pools it could run in if one runner there were free (eligible, but full or no idle runner). */
  blockedPoolIds: readonly string[];
}

/** A session holding a runner, and what says whether it may be asked to give it up. */
export interface RunnerHolder {
  sessionId: string;
  sessionState: SessionState;
  /** Since when the session has been idle (its last state change). */
  idleSince: number;
  /** Queued, assigned or running tasks of the session. */
  openTasks: number;
  runnerId: string;
  runnerState: RunnerState;
  poolId: string;
}

export interface PreemptPolicy {
  now: number;
  /** A session idle for less than this is left alone (a follow-up task is probably coming). */
  minIdleMs: number;
  /** Whether idle sessions in this pool may be suspended for waiting ones. */
  enabled: (poolId: string) => boolean;
  /** Whether the runner a holder frees could take the waiting session (labels); default yes. */
  fits?: (waiting: WaitingSession, holder: RunnerHolder) => boolean;
}

export interface Preemption {
  /** The idle session to suspend. */
  victim: RunnerHolder;
  /** The waiting session it makes room for. */
  forSessionId: string;
  poolId: string;
  idleMs: number;
}

/** Whether a holder may be suspended at all under `policy` (see the module doc). */
export function isPreemptible(h: RunnerHolder, policy: PreemptPolicy): boolean {
  return (
    h.sessionState === 'idle' &&
    h.openTasks === 0 &&
    h.runnerState === 'idle' &&
    policy.now - h.idleSince >= policy.minIdleMs &&
    policy.enabled(h.poolId)
  );
}

/**
 * Pairs waiting sessions with the idle sessions to suspend for them (at most one each).
 * @example
 * choosePreemptions([{ id: 'w', priority: 0, queuedAt: 5, blockedPoolIds: ['local'] }],
 *   [{ sessionId: 'old', sessionState: 'idle', idleSince: 1, openTasks: 0, runnerId: 'r', runnerState: 'idle', poolId: 'local' }],
 *   { now: 10, minIdleMs: 0, enabled: () => true })
 * // [{ victim: { sessionId: 'old', ... }, forSessionId: 'w', poolId: 'local', idleMs: 9 }]
 */
export function choosePreemptions(
  waiting: readonly WaitingSession[],
  holders: readonly RunnerHolder[],
  policy: PreemptPolicy,
): Preemption[] {
  const candidates = holders
    .filter((h) => isPreemptible(h, policy))
    .sort((a, b) => a.idleSince - b.idleSince || (a.sessionId < b.sessionId ? -1 : a.sessionId > b.sessionId ? 1 : 0));
  if (candidates.length === 0) return [];
  const order = [...waiting].sort(
    (a, b) => b.priority - a.priority || a.queuedAt - b.queuedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
  const taken = new Set<string>();
  const out: Preemption[] = [];
  for (const w of order) {
    if (w.blockedPoolIds.length === 0) continue;
    const blocked = new Set(w.blockedPoolIds);
    const victim = candidates.find(
      (h) => !taken.has(h.sessionId) && h.sessionId !== w.id && blocked.has(h.poolId) && (policy.fits?.(w, h) ?? true),
    );
    if (!victim) continue;
    taken.add(victim.sessionId);
    out.push({ victim, forSessionId: w.id, poolId: victim.poolId, idleMs: policy.now - victim.idleSince });
  }
  return out;
}
