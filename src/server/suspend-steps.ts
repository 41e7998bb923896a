/**
 * @module The steps of a suspend, run from a recorded intent so that a server killed in the
 * middle can finish them, and the undoing of an interrupted resume.
 *
 * A suspend writes `suspend.op` (kind, strategy, runner, the states it came from, step `begun`)
 * with the session's move to `suspending`, before any side effect; then each step of
 * `SUSPEND_STEPS[strategy]` (src/core/suspend-steps.ts) runs and is recorded. Every step is
 * idempotent (pausing a paused container, removing a removed one, committing a runner whose
 * snapshot image already exists), so `forward` can start again after the last recorded step and
 * redo a step that ran but was not recorded.
 *
 * Recovery (`recover`, at server start and every 10 s, for operations a previous server process
 * started): an interrupted suspend is finished; an interrupted resume is undone (the runner a
 * restore started is stopped, its storage kept; a thawed pause is frozen again) and the session
 * goes back to `suspended`, so `resume` or `cancel` works afterwards and nothing it kept leaks.
 * A step that fails during recovery is retried on the next pass; cancel works meanwhile.
 */
import { Conflict, toError } from '../core/errors.js';
import { canTransition, RUNNER_LIVE, RUNNER_TRANSITIONS } from '../core/states.js';
import { SUSPEND_STEPS, type SuspendStep } from '../core/suspend-steps.js';
import type { RunnerState } from '../core/types.js';
import type { SandboxHandle, SandboxProvider, SuspendStrategy } from '../providers/types.js';
import type { Runner, Session, SessionSuspendInfo, SuspendOp } from '../store/records.js';
import type { ServerContext } from './context.js';
import { crashPoint } from './faults.js';
import type { RunnerService } from './runners.js';
import type { SessionService } from './sessions.js';
import type { WorkspaceSnapshots } from './workspace-snapshots.js';

/** The states a failed suspend's runner may be rolled back from. */
const ROLLBACK_FROM: RunnerState[] = ['paused', 'suspended'];

/** A session with a suspend or resume in flight, and its intent. */
export type InFlight = SessionSuspendInfo & { op: SuspendOp };

/** The strategy a legacy row (written before intents were recorded) was being suspended with. */
function legacyStrategy(session: Session): SuspendStrategy {
  const m = /suspending \((\w+)\)/.exec(session.stateReason ?? '');
  const s = m?.[1] as SuspendStrategy | undefined;
  return s && s in SUSPEND_STEPS ? s : 'terminate';
}

export class SuspendSteps {
  constructor(
    private readonly ctx: ServerContext,
    private readonly sessions: SessionService,
    private readonly runners: RunnerService,
    /** Takes the `stored` step's workspace snapshot (null: no workspace store, the step does nothing). */
    private readonly workspaces: WorkspaceSnapshots | null = null,
  ) {}

  private async emitSession(id: string): Promise<void> {
    const s = await this.ctx.store.sessions.get(id);
    if (s) this.ctx.bus.emit('session:updated', { session: s });
  }

  private async emitRunner(id: string): Promise<void> {
    const r = await this.ctx.store.runners.get(id);
    if (r) this.ctx.bus.emit('runner:updated', { runner: r });
  }

  /** Records `step` (and what it produced) as done; a CAS write guarded by the in-flight state. */
  private async record(sessionId: string, info: InFlight, step: string, handle?: SandboxHandle): Promise<InFlight> {
    const next: InFlight = { ...info, op: { ...info.op, step, ...(handle ? { handle } : {}) } };
    const state = info.op.kind === 'suspend' ? 'suspending' : 'resuming';
    if (!(await this.ctx.store.sessions.transition(sessionId, state, { suspend: JSON.stringify(next) }, [state])))
      throw new Conflict(`session ${sessionId} changed state during its ${info.op.kind} (cancelled?); stopped there`);
    return next;
  }

  /**
   * Moves the runner to `to` unless it is there already. Throws Conflict when it is in a state
   * the move is not allowed from.
   */
  private async ensureRunner(id: string, to: RunnerState, from: RunnerState[]): Promise<void> {
    if (await this.ctx.store.runners.transition(id, to, {}, from)) return this.emitRunner(id);
    const now = await this.ctx.store.runners.get(id);
    if (now?.state !== to) throw new Conflict(`runner ${id} is ${now?.state ?? 'gone'}; cannot move it to ${to}`);
  }

  /** The runner's handle and provider, or a Conflict naming what is missing. */
  private sandbox(runner: Runner): { provider: SandboxProvider; handle: SandboxHandle } {
    const provider = this.ctx.providers.get(runner.providerId);
    if (!provider || !runner.handle)
      throw new Conflict(`runner ${runner.id} has no sandbox handle or provider ${runner.providerId} is not available`);
    return { provider, handle: runner.handle };
  }

  /** One suspend step, idempotent. Returns the kept handle it produced, if any. */
  private async step(
    strategy: SuspendStrategy,
    step: SuspendStep,
    runner: Runner,
    session: Session,
    reason: string,
  ): Promise<SandboxHandle | undefined> {
    const { store } = this.ctx;
    switch (`${strategy}:${step}`) {
      case 'release_to_pool:stored':
      case 'terminate_preserve_storage:stored':
        await this.store(strategy, runner, session);
        return;
      case 'pause:marked':
        await this.ensureRunner(runner.id, 'paused', ['idle', 'busy']);
        return;
      case 'pause:frozen': {
        const { provider, handle } = this.sandbox(runner);
        await provider.pause!(handle);
        return;
      }
      case 'terminate_preserve_storage:marked':
      case 'snapshot:marked':
        // `suspended`: out of the lease reaper's and the reconciler's sight while the sandbox goes.
        await this.ensureRunner(runner.id, 'suspended', ['idle', 'paused']);
        return;
      case 'terminate_preserve_storage:stopped': {
        const { provider, handle } = this.sandbox(runner);
        return (await provider.stopPreserveStorage!(handle)) ?? handle;
      }
      case 'snapshot:snapshotted': {
        const { provider, handle } = this.sandbox(runner);
        return provider.snapshot!(handle);
      }
      case 'terminate_preserve_storage:released':
      case 'snapshot:released': {
        await this.loseTask(runner, session, reason);
        this.runners.gateway.connections.get(runner.id)?.close(1000, reason.slice(0, 100));
        const now = Date.now();
        const notEnded = RUNNER_LIVE.filter((s) => s !== 'provisioning').concat(['suspended', 'offline']);
        if (await store.runners.transition(runner.id, 'terminated', { stopped_at: now }, notEnded)) {
          await this.runners.recordCost(runner, now);
          await this.emitRunner(runner.id);
        }
        return;
      }
      case 'terminate:released': {
        await this.loseTask(runner, session, reason);
        const fresh = (await store.runners.get(runner.id)) ?? runner;
        const provider = this.ctx.providers.get(fresh.providerId);
        if (fresh.state !== 'terminated') await this.runners.terminate(fresh, reason);
        else if (fresh.handle && provider) await provider.terminate(fresh.handle);
        return;
      }
      case 'release_to_pool:released': {
        const fresh = await store.runners.get(runner.id);
        if (fresh?.sessionId === session.id) await store.runners.update(runner.id, { session_id: null });
        await this.emitRunner(runner.id);
        return;
      }
      default:
        throw new Conflict(`suspend step ${step} is not a step of ${strategy}`);
    }
  }

  /** The `stored` step: the workspace's snapshot, taken by the runner that holds it. */
  private async store(strategy: SuspendStrategy, runner: Runner, session: Session): Promise<void> {
    // A provider whose kept storage is the store's copy only: that copy must be taken.
    const onlyStore = this.ctx.providers.get(runner.providerId)?.preservedStorage === 'workspace-store';
    if (!this.workspaces) {
      if (onlyStore) throw new Conflict('this server has no workspace store to keep the workspace in');
      return;
    }
    // A frozen runner (a pause being escalated) cannot answer; its storage is kept natively.
    const now = await this.ctx.store.runners.get(runner.id);
    if (strategy === 'terminate_preserve_storage' && now?.state === 'paused') {
      if (onlyStore)
        throw new Conflict(
          `runner ${runner.id} is paused, so its workspace cannot be snapshotted into the store; resume the session first`,
        );
      return;
    }
    try {
      await this.workspaces.take({ ...session, runnerId: runner.id }, { reason: 'suspend', pinned: false });
    } catch (e: unknown) {
      // The provider keeps this strategy's storage itself: the store's copy is the extra path.
      if (strategy !== 'terminate_preserve_storage' || onlyStore) throw e;
      this.ctx.log.warn({ err: toError(e), sessionId: session.id }, 'workspace snapshot before suspend failed');
    }
  }

  /** A task frozen in a pause that is escalated cannot survive its sandbox: it is lost. */
  private async loseTask(runner: Runner, session: Session, reason: string): Promise<void> {
    const task = await this.ctx.store.tasks.activeForRunner(runner.id);
    if (task && (await this.runners.loseTask(task, reason)))
      await this.ctx.store.sessions.addEvent(session.id, session.orgId, 'task_lost', { taskId: task.id, reason });
  }

  /**
   * Runs the suspend's steps after the last one recorded, then marks the session `suspended`.
   * Throws the first step's error (the step is not recorded).
   */
  async forward(session: Session, start: InFlight): Promise<Session> {
    const { store } = this.ctx;
    let info = start;
    const strategy = info.strategy as SuspendStrategy;
    const steps: readonly SuspendStep[] = SUSPEND_STEPS[strategy];
    const runner = info.op.runnerId ? await store.runners.get(info.op.runnerId) : null;
    const escalating = info.op.from === 'suspended';
    const reason = escalating ? (info.op.fellBack ?? 'escalated') : 'session suspended';
    if (runner) {
      for (const step of steps.slice(steps.indexOf(info.op.step as SuspendStep) + 1)) {
        const kept = await this.step(strategy, step, runner, session, reason);
        crashPoint(this.ctx.config, `suspend:${strategy}:${step}`);
        info = await this.record(session.id, info, step, kept);
      }
    }
    const handle =
      info.op.handle ??
      (strategy === 'pause' || strategy === 'terminate_preserve_storage' ? (runner?.handle ?? null) : null);
    const { op, ...rest } = info;
    const done: SessionSuspendInfo = { ...rest, handle, ...(escalating ? { escalatedFrom: 'pause' } : {}) };
    const why = op.fellBack ? `suspended (${strategy}): ${op.fellBack}` : `suspended (${strategy})`;
    if (
      !(await store.sessions.transition(
        session.id,
        'suspended',
        { suspend: JSON.stringify(done), state_reason: why, ...(strategy === 'pause' ? {} : { runner_id: null }) },
        ['suspending'],
      ))
    )
      throw new Conflict(`session ${session.id} changed state during its suspend (cancelled?); stopped there`);
    if (escalating)
      await store.sessions.addEvent(session.id, session.orgId, 'suspend_escalated', {
        from: 'pause',
        to: strategy,
        reason: op.fellBack,
      });
    else
      await store.sessions.addEvent(session.id, session.orgId, 'suspended', {
        strategy,
        wanted: op.wanted,
        ...(op.fellBack ? { fellBack: op.fellBack } : {}),
        runnerId: op.runnerId,
      });
    if (strategy === 'release_to_pool') this.sessions.kick();
    await this.emitSession(session.id);
    return (await store.sessions.get(session.id)) ?? session;
  }

  /**
   * A suspend in this process failed at a step: the runner goes back to the state it was in and
   * the session to where it came from (a pause being escalated stays the pause it was).
   */
  async rollBack(session: Session, info: InFlight, err: Error): Promise<void> {
    const { store } = this.ctx;
    const { op } = info;
    const runnerFrom = op.runnerFrom;
    if (op.runnerId && runnerFrom) {
      // Only from where the state table allows going back (a runner already back is left as it is).
      const from = ROLLBACK_FROM.filter((s) => canTransition(RUNNER_TRANSITIONS, s, runnerFrom));
      if (from.length) await store.runners.transition(op.runnerId, runnerFrom, {}, from);
    }
    const runner = op.runnerId ? await store.runners.get(op.runnerId) : null;
    const back: SessionSuspendInfo | null =
      op.from === 'suspended'
        ? {
            strategy: 'pause',
            requested: info.requested,
            suspendedAt: info.suspendedAt,
            handle: runner?.handle ?? null,
          }
        : null;
    await store.sessions.transition(
      session.id,
      op.from,
      {
        suspend: back ? JSON.stringify(back) : null,
        state_reason: `${op.from === 'suspended' ? 'escalating the pause' : 'suspend'} (${info.strategy}) failed: ${err.message}`,
      },
      ['suspending'],
    );
    await store.sessions.addEvent(
      session.id,
      session.orgId,
      op.from === 'suspended' ? 'escalation_failed' : 'suspend_failed',
      { strategy: info.strategy, error: err.message },
    );
    if (op.runnerId) await this.emitRunner(op.runnerId);
    await this.emitSession(session.id);
  }

  /**
   * Undoes an interrupted resume: a pause is frozen again, a runner a restore started is stopped
   * with the storage kept; the session goes back to `suspended`.
   */
  async undoResume(session: Session, info: InFlight): Promise<void> {
    const { store } = this.ctx;
    const strategy = info.strategy as SuspendStrategy;
    if (strategy === 'pause') {
      const runner = session.runnerId ? await store.runners.get(session.runnerId) : null;
      if (runner && RUNNER_LIVE.includes(runner.state) && runner.handle) {
        const { provider, handle } = this.sandbox(runner);
        if ((await provider.status(handle)) !== 'terminated') {
          await provider.pause!(handle);
          await this.ensureRunner(runner.id, 'paused', ['idle', 'busy']);
        }
      }
    } else if (strategy === 'terminate_preserve_storage' || strategy === 'snapshot') {
      for (const r of await store.runners.list({ sessionId: session.id }))
        if (r.state !== 'terminated' && r.createdAt >= info.op.startedAt)
          await this.stopKeepingStorage(r, 'resume interrupted');
    }
    const { op: _op, ...kept } = info;
    await store.sessions.transition(
      session.id,
      'suspended',
      { suspend: JSON.stringify(kept), state_reason: 'the server stopped while resuming; resume again' },
      ['resuming'],
    );
    await store.sessions.addEvent(session.id, session.orgId, 'resume_interrupted', { strategy });
    await this.emitSession(session.id);
  }

  /** Stops a runner started on a suspended session's storage, keeping the storage; `terminated`. */
  async stopKeepingStorage(r: Runner, reason: string): Promise<void> {
    const { store } = this.ctx;
    const provider = this.ctx.providers.get(r.providerId);
    if (r.handle && provider?.stopPreserveStorage) await provider.stopPreserveStorage(r.handle);
    this.runners.gateway.connections.get(r.id)?.close(1000, reason);
    const now = Date.now();
    if (await store.runners.transition(r.id, 'terminated', { stopped_at: now })) {
      await this.runners.recordCost(r, now);
      await this.emitRunner(r.id);
    }
  }

  /**
   * Finishes interrupted suspends and undoes interrupted resumes that a server process started
   * before `startedAt` (this process's start), except those `busy` says are running here.
   */
  async recover(startedAt: number, busy: (sessionId: string) => boolean, run: RunExclusive): Promise<number> {
    const { store } = this.ctx;
    let n = 0;
    for (const s of await store.sessions.listByState(['suspending', 'resuming'])) {
      const info = this.inFlight(s);
      if (info.op.startedAt >= startedAt || busy(s.id)) continue;
      try {
        await run(s.id, async () => {
          const fresh = await store.sessions.get(s.id);
          if (!fresh || fresh.state !== s.state) return;
          const now = this.inFlight(fresh);
          if (fresh.state === 'suspending') await this.forward(fresh, now);
          else await this.undoResume(fresh, now);
        });
        n++;
        this.ctx.log.warn(
          { sessionId: s.id, kind: info.op.kind, strategy: info.strategy, step: info.op.step },
          s.state === 'suspending' ? 'finished an interrupted suspend' : 'undid an interrupted resume',
        );
      } catch (e: unknown) {
        const err = toError(e);
        this.ctx.log.error(
          { err, sessionId: s.id },
          `recovering an interrupted ${info.op.kind} failed; retrying later`,
        );
        await store.sessions.addEvent(s.id, s.orgId, 'recovery_failed', { kind: info.op.kind, error: err.message });
      }
    }
    return n;
  }

  /** The session's intent; rows written before intents were recorded get a `begun` one. */
  private inFlight(s: Session): InFlight {
    if (s.suspend?.op) return s.suspend as InFlight;
    const strategy = s.suspend?.strategy ?? legacyStrategy(s);
    return {
      strategy,
      requested: s.suspend?.requested ?? null,
      suspendedAt: s.suspend?.suspendedAt ?? s.updatedAt,
      handle: s.suspend?.handle ?? null,
      op: {
        kind: s.state === 'resuming' ? 'resume' : 'suspend',
        step: 'begun',
        runnerId: s.runnerId,
        from: 'idle',
        runnerFrom: null,
        wanted: strategy,
        fellBack: null,
        handle: null,
        startedAt: 0,
      },
    };
  }
}

/** Runs `fn` as the only suspend/resume of the session in this process (`SuspendService.exclusive`). */
export type RunExclusive = (sessionId: string, fn: () => Promise<void>) => Promise<void>;
