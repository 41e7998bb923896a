/**
 * @module The providers' session ceiling (`maxSessionDurationSeconds`: Vercel's 18,000 s, or a
 * provider config's own): a sandbox the provider would kill at that age is suspended before it,
 * with its pool's strategy, instead of being killed with the session's work.
 *
 * A session's ceiling is its sandbox's: the runner's `createdAt` (in the store, so a restarted
 * server computes the same deadline) plus the ceiling, which the handle's metadata may set
 * (`maxSessionDurationSeconds`), else the provider instance's capability row. `sessions.ceiling_margin`
 * (default 5m, never more than half the ceiling) before it, the pass (every 2 s from
 * src/server/main.ts) suspends the session:
 *
 * - `active` or `idle` with no running task: suspended with the pool's strategy; a `pause` (which
 *   keeps the sandbox and so its age) is replaced by the fallback, else `terminate_preserve_storage`,
 *   else `terminate` (the same choice as a pause past `max_duration`). The state reason and the
 *   `suspended` event name the ceiling.
 * - a task running: every strategy but pause would kill it, so the session waits for the task
 *   (one `ceiling_reached` event says so) and is suspended as soon as the task ends. A task still
 *   running at the ceiling itself dies with the sandbox and is `lost`, as any sandbox death.
 * - `suspended` with `pause`: escalated to the fallback the same way.
 *
 * Resume provisions a new sandbox (a new runner), whose ceiling starts afresh.
 */
import { formatDuration } from '../core/duration.js';
import { toError } from '../core/errors.js';
import type { Pool } from '../core/types.js';
import type { SandboxHandle, SandboxProvider, SuspendStrategy } from '../providers/types.js';
import type { Runner, Session } from '../store/records.js';
import type { ServerContext } from './context.js';
import { canHonour, type SuspendService } from './suspend.js';

/** The ceiling in seconds of a sandbox (its handle's own, else its provider's), or null: none. */
export function ceilingSeconds(provider: SandboxProvider | undefined, handle: SandboxHandle | null): number | null {
  const own = handle?.metadata.maxSessionDurationSeconds;
  if (typeof own === 'number' && own > 0) return own;
  const row = provider?.capabilities.maxSessionDurationSeconds ?? null;
  return row !== null && row > 0 ? row : null;
}

/** When the session on `runner` must be suspended (ms since the epoch), or null: no ceiling. */
export function ceilingDeadline(
  runner: Pick<Runner, 'createdAt' | 'handle'>,
  provider: SandboxProvider | undefined,
  marginMs: number,
): { at: number; ceilingS: number; marginMs: number } | null {
  const ceilingS = ceilingSeconds(provider, runner.handle);
  if (ceilingS === null) return null;
  const margin = Math.min(marginMs, (ceilingS * 1000) / 2);
  return { at: runner.createdAt + ceilingS * 1000 - margin, ceilingS, marginMs: margin };
}

/** A strategy that ends the sandbox: the pool's, unless it is pause (then the fallback, ...). */
function ceilingStrategy(pool: Pool, provider: SandboxProvider | undefined): SuspendStrategy | undefined {
  if (pool.suspendConfig.strategy !== 'pause') return undefined;
  const fb = pool.suspendConfig.fallback;
  if (fb !== 'pause' && fb !== 'release_to_pool' && canHonour(provider, pool.mode, fb)) return fb;
  return canHonour(provider, pool.mode, 'terminate_preserve_storage') ? 'terminate_preserve_storage' : 'terminate';
}

export class SessionCeiling {
  /** Sessions whose "waiting for the task" event was recorded (one per sandbox). */
  private readonly waiting = new Set<string>();

  constructor(
    private readonly ctx: ServerContext,
    private readonly suspend: SuspendService,
  ) {}

  private get marginMs(): number {
    return this.ctx.config.ceilingMarginMs ?? 5 * 60_000;
  }

  /** Whether any configured provider has a ceiling (else a pass reads nothing). */
  private anyCeiling(): boolean {
    for (const p of this.ctx.providers.values()) if (p.capabilities.maxSessionDurationSeconds !== null) return true;
    return false;
  }

  async tick(now = Date.now()): Promise<void> {
    if (!this.anyCeiling()) return;
    const { store } = this.ctx;
    for (const s of await store.sessions.listByState(['active', 'idle', 'suspended'])) {
      if (!s.runnerId) continue;
      if (s.state === 'suspended' && s.suspend?.strategy !== 'pause') continue;
      const runner = await store.runners.get(s.runnerId);
      if (!runner) continue;
      const provider = this.ctx.providers.get(runner.providerId);
      const d = ceilingDeadline(runner, provider, this.marginMs);
      if (!d || now < d.at) continue;
      const why = `its sandbox reaches the provider's maximum session duration (${formatDuration(d.ceilingS * 1000)}, maxSessionDurationSeconds ${d.ceilingS}) in ${formatDuration(Math.max(0, runner.createdAt + d.ceilingS * 1000 - now))} (sessions.ceiling_margin ${formatDuration(d.marginMs)})`;
      try {
        await this.act(s, runner, why);
      } catch (e: unknown) {
        this.ctx.log.warn({ err: toError(e), sessionId: s.id }, 'suspending a session at its ceiling failed');
      }
    }
  }

  private async act(s: Session, runner: Runner, why: string): Promise<void> {
    const { store } = this.ctx;
    if (s.state === 'suspended') {
      if (await this.suspend.escalatePause(s.id, `paused, but ${why}`))
        this.ctx.log.info({ sessionId: s.id }, 'paused session escalated at its ceiling');
      return;
    }
    const task = await store.tasks.activeForRunner(runner.id);
    if (task) {
      const key = `${s.id}:${runner.id}`;
      if (!this.waiting.has(key)) {
        this.waiting.add(key);
        await store.sessions.addEvent(s.id, s.orgId, 'ceiling_reached', {
          reason: `${why}; waiting for task ${task.id} to finish, then suspending`,
          taskId: task.id,
          runnerId: runner.id,
        });
      }
      return;
    }
    const pool = await store.pools.byId(runner.poolId);
    if (!pool) return;
    const provider = this.ctx.providers.get(pool.providerId);
    await store.sessions.addEvent(s.id, s.orgId, 'ceiling_reached', { reason: why, runnerId: runner.id });
    await this.suspend.suspend(s.id, ceilingStrategy(pool, provider), false, `session ceiling: ${why}`);
    this.waiting.delete(`${s.id}:${runner.id}`);
    this.ctx.log.info({ sessionId: s.id, runnerId: runner.id }, 'session suspended before its ceiling');
  }
}
