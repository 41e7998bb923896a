/**
 * @module The limits of pools whose runners dial in (`pool` and `external` modes), where the
 * server starts nothing and can only accept or refuse the machines that join:
 *
 * - `max_runners`: the most runners of the pool registered and live at once (connecting, idle,
 *   busy, draining; an `offline` or `terminated` runner does not count). A registration past it is
 *   refused with `409 pool_full` and the agent exits with the message; a runner that was offline
 *   and comes back while the pool is full is refused the same way at its hello (close code 4009).
 *   The count and the new runner's row are one transaction, as for managed runners.
 * - `idle_timeout`: a runner idle and bound to no session for that long is told to shut down
 *   (`shutdown`, the agent exits 0) and its row is terminated, never going below `min_runners`
 *   idle runners (the autoscaler's pass, src/server/autoscaler.ts, does it for every pool).
 */
import { formatDuration } from '../core/duration.js';
import type { Pool } from '../core/types.js';
import type { Repos } from '../store/index.js';
import type { Runner } from '../store/records.js';

/** Whether runners of this pool join by themselves (pool and external modes). */
export function dialsIn(pool: Pick<Pool, 'mode'>): boolean {
  return pool.mode !== 'managed';
}

/**
 * Null when a runner may join `pool` now, else why not (the message the agent prints). Run it in
 * the transaction that inserts the runner, so two registrations cannot both take the last place.
 */
export async function dialInRefusal(repos: Pick<Repos, 'runners'>, pool: Pool): Promise<string | null> {
  if (!dialsIn(pool) || pool.maxRunners === null) return null;
  const live = await repos.runners.countLive(pool.id);
  if (live < pool.maxRunners) return null;
  return `pool ${pool.name} is full: it has ${live} live runner(s) and max_runners ${pool.maxRunners}; stop or drain one (\`mctl runners drain ID\`), or raise max_runners (\`mctl pools update ${pool.name} --max-runners N\`)`;
}

/** Null when `runner` may (re)connect, else why not: an offline dial-in runner returning to a full pool. */
export async function rejoinRefusal(repos: Pick<Repos, 'runners' | 'pools'>, runner: Runner): Promise<string | null> {
  if (runner.state !== 'offline') return null;
  const pool = await repos.pools.byId(runner.poolId);
  return pool ? dialInRefusal(repos, pool) : null;
}

/** The reason an idle runner is let go, as the agent prints it. */
export function idleReason(pool: Pick<Pool, 'active' | 'idleTimeoutMs'>): string {
  return pool.active
    ? `idle longer than the pool's idle_timeout (${formatDuration(pool.idleTimeoutMs ?? 0)})`
    : 'pool deactivated';
}
