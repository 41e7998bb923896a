/**
 * @module Suspend and resume of sessions, per the pool's `suspend_config` and what its provider
 * can honour.
 *
 * Strategy: the one asked for (`--strategy`), refused with 409 and the reason when it cannot be
 * honoured; else the pool's `strategy`, and when that cannot be honoured (not in
 * `supportedSuspendStrategies()`, an operation missing, the pool's mode, or a `snapshot` of a
 * read-only root filesystem) the pool's `fallback`, then `terminate`, recorded with the reason
 * (src/server/suspend-honour.ts).
 *
 * | strategy | the sandbox | the runner row | resume |
 * |---|---|---|---|
 * | `pause` | frozen (memory kept); a running task freezes with it | `paused` | unfreeze; the same runner goes back to `idle`/`busy` |
 * | `terminate_preserve_storage` | removed, storage (workspace volume) kept | `terminated` (+ cost event) | a new runner is provisioned on the kept storage (`provider.restore`) |
 * | `snapshot` | committed (filesystem outside the workspace too) and removed, storage kept | `terminated` (+ cost event) | a new runner from the snapshot and the kept storage |
 * | `terminate` | removed with its storage | `terminated` (+ cost event) | placed again from scratch |
 * | `release_to_pool` | kept: the runner goes back to its pool, idle and unbound | `idle` | placed again, possibly on another runner |
 *
 * A running task: `pause` freezes it with everything else. Every other strategy would kill it, so
 * the request is refused (409 Conflict naming the task; cancel it or wait for it first).
 *
 * `min_duration`: a session's current sandbox must have existed this long (from its runner's
 * creation) before the session may be suspended; earlier requests get 409 Conflict saying how
 * long to wait. It keeps suspend/resume churn from costing more than it saves.
 *
 * `max_duration`: a `pause` older than this is escalated to the pool's fallback (or
 * `terminate_preserve_storage`, else `terminate`, when the fallback is `pause` or cannot be
 * honoured). A task frozen in that pause is marked `lost` (it cannot survive the container) and
 * is not retried automatically.
 *
 * A failed suspend puts the session back to `active`/`idle`; a failed resume leaves it `suspended`
 * (storage kept), in both cases with the provider's error in `state_reason` and the response.
 *
 * Crash safety: the steps and their intent record are in src/server/suspend-steps.ts. A server
 * killed mid-suspend leaves the session `suspending` with the last step done; the next server
 * (`recoverInterrupted`, at start and every 10 s) finishes it. One killed mid-resume leaves it
 * `resuming`; the next server undoes it back to `suspended`.
 */
import { SuspendBody } from '../api/schemas.js';
import { assertNever, Conflict, InvalidRequest, ProviderUnavailable, toError } from '../core/errors.js';
import { RUNNER_LIVE } from '../core/states.js';
import type { Pool } from '../core/types.js';
import type { SuspendStrategy } from '../providers/types.js';
import type { Session, SessionRequest } from '../store/records.js';
import type { ServerContext } from './context.js';
import { crashPoint } from './faults.js';
import { planMove, type ResumeTarget } from './resume-elsewhere.js';
import type { RunnerService } from './runners.js';
import type { SessionService } from './sessions.js';
import { canHonour, resolveStrategy, strictPlan } from './suspend-honour.js';
import { type InFlight, SuspendSteps } from './suspend-steps.js';
import type { WorkspaceSnapshots } from './workspace-snapshots.js';

export { canHonour, resolveStrategy, type SuspendPlan, strictPlan, whyNot } from './suspend-honour.js';
export { SuspendBody };

function fmtMs(ms: number): string {
  if (ms >= 3_600_000 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms >= 1000) return `${Math.ceil(ms / 1000)}s`;
  return `${ms}ms`;
}

export class SuspendService {
  /** Sessions with a suspend, resume or escalation in flight (one at a time per session). */
  private readonly inFlight = new Set<string>();
  /** Suspended sessions that ended and whose kept storage was already handed to `destroyStorage`. */
  private readonly released = new Set<string>();
  /** Whether `releaseEndedResumes` has run in this process. */
  private sweptEnded = false;

  private readonly steps: SuspendSteps;

  constructor(
    private readonly ctx: ServerContext,
    private readonly sessions: SessionService,
    private readonly runners: RunnerService,
    workspaces: WorkspaceSnapshots | null = null,
  ) {
    this.steps = new SuspendSteps(ctx, sessions, runners, workspaces);
    // A suspended session that ends (cancelled, ...) no longer needs the storage it kept, nor a
    // runner that a resume in flight had started on it.
    ctx.bus.on('session:updated', ({ session }) => {
      if (!session.endedAt || !session.suspend) return;
      if (this.released.has(session.id)) return;
      this.released.add(session.id);
      void this.releaseEnded(session).catch((e: unknown) =>
        ctx.log.error({ err: toError(e), sessionId: session.id }, 'removing the storage of an ended session failed'),
      );
    });
  }

  private async releaseEnded(session: Session): Promise<void> {
    if (session.suspend?.op?.kind === 'resume')
      for (const r of await this.ctx.store.runners.list({ sessionId: session.id }))
        if (r.state !== 'terminated' && r.id !== session.runnerId) await this.runners.terminate(r, 'session ended');
    const handle = session.suspend?.handle;
    if (!handle || session.suspend?.strategy === 'pause') return;
    const provider = this.ctx.providers.get(handle.providerId);
    if (provider?.destroyStorage) await provider.destroyStorage(handle);
  }

  private async exclusive<T>(sessionId: string, fn: () => Promise<T>): Promise<T> {
    if (this.inFlight.has(sessionId))
      throw new Conflict(`a suspend or resume of session ${sessionId} is already in progress`, {
        hint: 'wait for it to finish and look again with `mctl sessions get`',
      });
    this.inFlight.add(sessionId);
    try {
      return await fn();
    } finally {
      this.inFlight.delete(sessionId);
    }
  }

  private async emitSession(id: string): Promise<Session> {
    const s = await this.sessions.sessionById(id);
    this.ctx.bus.emit('session:updated', { session: s });
    return s;
  }

  private async emitRunner(id: string): Promise<void> {
    const r = await this.ctx.store.runners.get(id);
    if (r) this.ctx.bus.emit('runner:updated', { runner: r });
  }

  // ---- suspend ------------------------------------------------------------------------------

  /**
   * Suspends a session. Throws Conflict when its state, a running task or min_duration forbid it,
   * and, with `strict` (a strategy the caller asked for), when that strategy cannot be honoured.
   */
  async suspend(sessionId: string, requested?: SuspendStrategy, strict = false, cause?: string): Promise<Session> {
    return this.exclusive(sessionId, async () => {
      const { store } = this.ctx;
      const session = await this.sessions.sessionById(sessionId);
      if (session.state === 'suspended')
        throw new Conflict(`session ${session.id} is already suspended (${session.suspend?.strategy ?? 'unknown'})`, {
          hint: `resume it with \`mctl sessions resume ${session.id}\``,
        });
      if (session.state !== 'active' && session.state !== 'idle')
        throw new Conflict(
          `session ${session.id} is ${session.state}; only an active or idle session can be suspended`,
        );
      const runner = session.runnerId ? await store.runners.get(session.runnerId) : null;
      const live = runner && RUNNER_LIVE.includes(runner.state) ? runner : null;
      const poolId = live?.poolId ?? session.poolId;
      const pool = poolId ? await store.pools.byId(poolId) : null;
      if (!pool) throw new Conflict(`session ${session.id} is not on any pool; there is nothing to suspend`);
      const provider = this.ctx.providers.get(pool.providerId);
      const resolved =
        strict && requested
          ? strictPlan(session.id, pool, provider, requested, live?.handle)
          : resolveStrategy(pool, provider, requested, live?.handle);
      // Why the server suspends it (not a user's request): the reason and event say so.
      const plan = cause
        ? { ...resolved, fellBack: resolved.fellBack ? `${cause}; ${resolved.fellBack}` : cause }
        : resolved;
      const now = Date.now();
      if (live && now - live.createdAt < pool.suspendConfig.minDurationMs) {
        const wait = pool.suspendConfig.minDurationMs - (now - live.createdAt);
        throw new Conflict(
          `session ${session.id} cannot be suspended yet: pool ${pool.name} has suspend_config.min_duration ${fmtMs(pool.suspendConfig.minDurationMs)} and its sandbox has run ${fmtMs(now - live.createdAt)}`,
          { hint: `try again in ${fmtMs(wait)}`, details: { retryAfterMs: wait } },
        );
      }
      const task = live ? await store.tasks.activeForRunner(live.id) : null;
      if (task && plan.strategy !== 'pause')
        throw new Conflict(
          `session ${session.id} has task ${task.id} ${task.state}; suspending with ${plan.strategy} would kill it`,
          {
            hint: `cancel it with \`mctl tasks cancel ${task.id}\` or wait for it to finish${canHonour(provider, pool.mode, 'pause') ? ', or suspend with --strategy pause (freezes it)' : ''}`,
            details: { taskId: task.id, strategy: plan.strategy },
          },
        );
      if (live && plan.strategy !== 'terminate' && plan.strategy !== 'release_to_pool' && !live.handle)
        throw new InvalidRequest(`runner ${live.id} has no sandbox handle; cannot ${plan.strategy} it`);
      if (live && plan.strategy === 'release_to_pool' && pool.mode === 'managed')
        throw new InvalidRequest(`pool ${pool.name} is managed; nothing to release to`);
      // The intent goes in with the move to `suspending`, before any side effect.
      const info: InFlight = {
        strategy: plan.strategy,
        requested: requested ?? null,
        suspendedAt: now,
        handle: null,
        op: {
          kind: 'suspend',
          step: 'begun',
          runnerId: live?.id ?? null,
          from: session.state,
          runnerFrom: live?.state ?? null,
          wanted: plan.wanted,
          fellBack: plan.fellBack,
          handle: null,
          startedAt: now,
        },
      };
      const reason = `suspending (${plan.strategy})`;
      if (
        !(await store.sessions.transition(
          session.id,
          'suspending',
          { state_reason: reason, suspend: JSON.stringify(info) },
          [session.state],
        ))
      )
        throw new Conflict(`session ${session.id} changed state meanwhile; look again and retry`);
      crashPoint(this.ctx.config, `suspend:${plan.strategy}:begun`);
      await this.emitSession(session.id);
      return this.runSteps(session, info);
    });
  }

  /** Runs a recorded suspend; on failure, rolls back unless the session moved on meanwhile. */
  private async runSteps(session: Session, info: InFlight): Promise<Session> {
    try {
      return await this.steps.forward(session, info);
    } catch (e: unknown) {
      const err = toError(e);
      const now = await this.ctx.store.sessions.get(session.id);
      if (now?.state === 'suspending')
        await this.steps.rollBack(session, now.suspend?.op ? (now.suspend as InFlight) : info, err);
      throw err;
    }
  }

  // ---- resume -------------------------------------------------------------------------------

  /**
   * Resumes a suspended session, where it was or (`target`) on another pool or provider through
   * the workspace store (src/server/resume-elsewhere.ts). A failure leaves it suspended (storage
   * kept) and is thrown.
   */
  async resume(sessionId: string, target: ResumeTarget = {}): Promise<Session> {
    return this.exclusive(sessionId, async () => {
      const { store } = this.ctx;
      const session = await this.sessions.sessionById(sessionId);
      if (session.state !== 'suspended')
        throw new Conflict(`session ${session.id} is ${session.state}; only a suspended session can be resumed`);
      const move = await planMove(this.ctx, this.sessions, session, target);
      const info = session.suspend;
      const strategy = (info?.strategy ?? 'terminate') as SuspendStrategy;
      const now = Date.now();
      const intent: InFlight = {
        strategy,
        requested: info?.requested ?? null,
        suspendedAt: info?.suspendedAt ?? now,
        handle: info?.handle ?? null,
        ...(info?.escalatedFrom ? { escalatedFrom: info.escalatedFrom } : {}),
        op: {
          kind: 'resume',
          step: 'begun',
          runnerId: session.runnerId,
          from: 'suspended',
          runnerFrom: null,
          wanted: strategy,
          fellBack: null,
          handle: null,
          startedAt: now,
        },
      };
      if (
        !(await store.sessions.transition(
          session.id,
          'resuming',
          { state_reason: 'resuming', suspend: JSON.stringify(intent) },
          ['suspended'],
        ))
      )
        throw new Conflict(`session ${session.id} changed state meanwhile; look again and retry`);
      crashPoint(this.ctx.config, `resume:${strategy}:begun`);
      await this.emitSession(session.id);
      try {
        const how = move ? await this.moveTo(session, move) : await this.bringBack(session, strategy);
        await store.sessions.addEvent(session.id, session.orgId, 'resumed', { strategy, how });
      } catch (e: unknown) {
        const err = toError(e);
        await store.sessions.transition(
          session.id,
          'suspended',
          { state_reason: `resume failed: ${err.message}`, suspend: info ? JSON.stringify(info) : null },
          ['resuming'],
        );
        await store.sessions.addEvent(session.id, session.orgId, 'resume_failed', { error: err.message });
        await this.emitSession(session.id);
        throw err;
      }
      this.sessions.kick();
      return this.emitSession(session.id);
    });
  }

  /** Places the session afresh under `request`; the workspace comes from the store, the kept storage goes. */
  private async moveTo(session: Session, request: SessionRequest): Promise<string> {
    const moved = await this.ctx.store.sessions.transition(
      session.id,
      'scheduling',
      { runner_id: null, suspend: null, state_reason: null, request: JSON.stringify(request) },
      ['resuming'],
    );
    if (!moved) throw new Conflict(`session ${session.id} changed state while resuming; look again and retry`);
    const handle = session.suspend?.handle;
    const provider = handle ? this.ctx.providers.get(handle.providerId) : undefined;
    if (handle && provider?.destroyStorage)
      await provider
        .destroyStorage(handle)
        .catch((e: unknown) =>
          this.ctx.log.warn(
            { err: toError(e), sessionId: session.id },
            'removing the storage kept before a move failed',
          ),
        );
    const where = request.pool ? `pool ${request.pool}` : `provider ${request.provider}`;
    return `moved to ${where}; placed afresh, the workspace restored from the store`;
  }

  private async bringBack(session: Session, strategy: SuspendStrategy): Promise<string> {
    const { store } = this.ctx;
    const fresh = async (why: string): Promise<string> => {
      await store.sessions.transition(
        session.id,
        'scheduling',
        { runner_id: null, suspend: null, state_reason: null },
        ['resuming'],
      );
      return why;
    };
    switch (strategy) {
      case 'pause': {
        const runner = session.runnerId ? await store.runners.get(session.runnerId) : null;
        const provider = runner ? this.ctx.providers.get(runner.providerId) : undefined;
        if (runner?.state !== 'paused' || !runner.handle || !provider?.unpause)
          return fresh(
            `the paused sandbox is gone (runner ${runner?.id ?? '-'} ${runner?.state ?? 'missing'}); placed afresh`,
          );
        await provider.unpause(runner.handle);
        crashPoint(this.ctx.config, 'resume:pause:thawed');
        const task = await store.tasks.activeForRunner(runner.id);
        await store.runners.transition(runner.id, task ? 'busy' : 'idle', {}, ['paused']);
        await store.runners.renewLease(runner.id, Date.now(), this.ctx.config.leaseTimeoutMs);
        await this.emitRunner(runner.id);
        await store.sessions.transition(session.id, task ? 'active' : 'idle', { suspend: null, state_reason: null }, [
          'resuming',
        ]);
        return 'unpaused';
      }
      case 'terminate_preserve_storage':
      case 'snapshot': {
        const pool = session.poolId ? await store.pools.byId(session.poolId) : null;
        if (!pool) return fresh(`pool ${session.poolId} no longer exists; placed afresh`);
        // The kept storage's pool was turned off: the workspace comes back from the store, wherever placed.
        if (!pool.active && (await store.snapshots.latest(session.id)))
          return fresh(`pool ${pool.name} is inactive; placed afresh, the workspace restored from the store`);
        const provider = this.ctx.providers.get(pool.providerId);
        if (!provider) throw new ProviderUnavailable(`provider ${pool.providerId} is not available on this server`);
        const health = provider.health ? await provider.health() : { ok: true as const };
        if (!health.ok) throw new ProviderUnavailable(health.message);
        // `provision` sees the session's suspend handle and calls `provider.restore` with it.
        const runner = await this.runners.provision(pool, session);
        crashPoint(this.ctx.config, `resume:${strategy}:provisioned`);
        if (
          !(await store.sessions.transition(
            session.id,
            'provisioning',
            { runner_id: runner.id, suspend: null, state_reason: null },
            ['resuming'],
          ))
        ) {
          // Cancelled (or undone by another server) meanwhile: the new sandbox is not wanted.
          const now = await store.sessions.get(session.id);
          if (now?.endedAt) await this.runners.terminate(runner, 'session ended while resuming');
          else await this.steps.stopKeepingStorage(runner, 'resume undone');
          throw new Conflict(`session ${session.id} changed state while resuming; its new runner was stopped`);
        }
        return `restored on runner ${runner.id}`;
      }
      case 'terminate':
      case 'release_to_pool':
        return fresh('placed afresh');
      default:
        return assertNever(strategy, 'suspend strategy');
    }
  }

  /**
   * Finishes suspends and undoes resumes that a previous server process left half-done (see
   * src/server/suspend-steps.ts). Run at start, before the reconciler, and every 10 s.
   */
  async recoverInterrupted(startedAt: number): Promise<number> {
    if (!this.sweptEnded)
      try {
        await this.releaseEndedResumes(startedAt);
        this.sweptEnded = true;
      } catch (e: unknown) {
        this.ctx.log.error({ err: toError(e) }, 'letting go of runners of sessions that ended while resuming failed');
      }
    return this.steps.recover(
      startedAt,
      (id) => this.inFlight.has(id),
      (id, fn) => this.exclusive(id, fn),
    );
  }

  /**
   * Once per process: a session that ended during a resume (cancelled) just before the previous
   * server died may still hold the runner that resume started; it goes, with the storage.
   */
  private async releaseEndedResumes(startedAt: number): Promise<void> {
    for (const r of await this.ctx.store.runners.live()) {
      if (!r.sessionId || r.createdAt >= startedAt) continue;
      const s = await this.ctx.store.sessions.get(r.sessionId);
      if (s?.endedAt && s.suspend?.op?.kind === 'resume') await this.releaseEnded(s);
    }
  }

  // ---- max_duration -------------------------------------------------------------------------

  /**
   * Escalates a paused session to the fallback now, for `reason` (a provider's session ceiling,
   * src/server/session-ceiling.ts). False when it is not paused (any more).
   */
  async escalatePause(sessionId: string, reason: string): Promise<boolean> {
    const s = await this.ctx.store.sessions.get(sessionId);
    if (s?.state !== 'suspended' || s.suspend?.strategy !== 'pause' || !s.poolId || this.inFlight.has(s.id))
      return false;
    const pool = await this.ctx.store.pools.byId(s.poolId);
    if (!pool) return false;
    await this.exclusive(s.id, () => this.escalate(s.id, pool, reason));
    return true;
  }

  /** Escalates pauses older than their pool's `max_duration` to the fallback. */
  async escalateExpiredPauses(now = Date.now()): Promise<void> {
    const { store } = this.ctx;
    for (const s of await store.sessions.listByState(['suspended'])) {
      if (s.suspend?.strategy !== 'pause' || !s.poolId) continue;
      const pool = await store.pools.byId(s.poolId);
      const max = pool?.suspendConfig.maxDurationMs ?? null;
      if (!pool || max === null || now - s.suspend.suspendedAt < max) continue;
      if (this.inFlight.has(s.id)) continue;
      try {
        await this.exclusive(s.id, () => this.escalate(s.id, pool));
      } catch (e: unknown) {
        this.ctx.log.error({ err: toError(e), sessionId: s.id }, 'escalating an expired pause failed');
      }
    }
  }

  private async escalate(sessionId: string, pool: Pool, cause?: string): Promise<void> {
    const { store } = this.ctx;
    const session = await this.sessions.sessionById(sessionId);
    const info = session.suspend;
    if (session.state !== 'suspended' || info?.strategy !== 'pause') return;
    const provider = this.ctx.providers.get(pool.providerId);
    const fb = pool.suspendConfig.fallback;
    const target: SuspendStrategy =
      fb !== 'pause' && fb !== 'release_to_pool' && canHonour(provider, pool.mode, fb)
        ? fb
        : canHonour(provider, pool.mode, 'terminate_preserve_storage')
          ? 'terminate_preserve_storage'
          : 'terminate';
    const reason = `${cause ?? `paused longer than suspend_config.max_duration ${fmtMs(pool.suspendConfig.maxDurationMs ?? 0)}`}; escalated to ${target}`;
    const runner = session.runnerId ? await store.runners.get(session.runnerId) : null;
    const paused = runner?.state === 'paused' ? runner : null;
    // An escalation is a suspend from `suspended`, with its intent recorded the same way.
    const next: InFlight = {
      strategy: target,
      requested: info.requested,
      suspendedAt: info.suspendedAt,
      handle: null,
      op: {
        kind: 'suspend',
        step: 'begun',
        runnerId: paused?.id ?? null,
        from: 'suspended',
        runnerFrom: paused ? 'paused' : null,
        wanted: target,
        fellBack: reason,
        handle: null,
        startedAt: Date.now(),
      },
    };
    if (
      !(await store.sessions.transition(
        session.id,
        'suspending',
        { suspend: JSON.stringify(next), state_reason: `suspending (${target}): ${reason}` },
        ['suspended'],
      ))
    )
      return;
    await this.emitSession(session.id);
    await this.runSteps(session, next);
  }
}
