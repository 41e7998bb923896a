/**
 * @module The task lifecycle on the session side: inserting tasks (first ones and retries),
 * building a task's assignment for its runner, a task's end (the session back to idle, a per-task
 * runner let go), a lost runner (the retry policy, the session re-attached), and failing a task or
 * a session, with the release of its runner.
 */
import { toError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { isTerminalSession } from '../core/states.js';
import type { AgentCard } from '../core/types.js';
import type { TaskAssignment } from '../protocol/messages.js';
import type { Repos } from '../store/index.js';
import type { Placement, Runner, Session, Task } from '../store/records.js';
import { assignmentFields, missingEnvError, renderTask, taskContext } from './agents.js';
import type { ServerContext } from './context.js';
import type { RunnerControl } from './runner-control.js';
import type { SessionCatalog } from './session-catalog.js';
import { emitSession, emitTask } from './session-common.js';
import { sessionExtras } from './session-repo.js';
import { withOpenEnv } from './session-secrets.js';

/** What a caller of `sendAssignment` (TaskCommands) already knows (each part is looked up when absent). */
export interface AssignmentContext {
  session?: Session;
  card?: AgentCard | undefined;
  /** The task was queued until this claim: it has no log lines yet. */
  claimed?: boolean;
}

export class TaskLifecycle {
  constructor(
    private readonly ctx: ServerContext,
    private readonly runners: RunnerControl,
    private readonly catalog: SessionCatalog,
    /** Asks the assigner for a pass. */
    private readonly kick: () => void,
  ) {}

  /** Inserts a queued task. Through `tx` it is part of the caller's transaction, which emits it after commit. */
  async insertTask(
    session: Session,
    prompt: string,
    maxRetries?: number,
    retryOf?: Task,
    tx?: Repos,
    timeoutMs?: number,
  ): Promise<Task> {
    const task = await (tx ?? this.ctx.store).tasks.insert({
      id: newId('tsk'),
      org_id: session.orgId,
      session_id: session.id,
      prompt,
      state: 'queued',
      runner_id: null,
      attempt: retryOf ? retryOf.attempt + 1 : 1,
      max_retries: retryOf ? retryOf.maxRetries : (maxRetries ?? this.ctx.config.maxRetries),
      retry_of: retryOf?.id ?? null,
      exit_code: null,
      error: null,
      cancel_requested: 0,
      created_at: retryOf ? retryOf.createdAt : Date.now(),
      assigned_at: null,
      started_at: null,
      finished_at: null,
      // A retry keeps the task's own timeout; only a task that has one writes the column.
      ...((timeoutMs ?? retryOf?.timeoutMs) ? { timeout_ms: timeoutMs ?? retryOf?.timeoutMs } : {}),
    });
    if (!tx) emitTask(this.ctx, task);
    return task;
  }

  async buildAssignment(session: Session, task: Task, known: AssignmentContext): Promise<TaskAssignment | null> {
    // Only a card that is gone fails the task; a failing read is an error of its own (it propagates).
    const card = known.card ?? (await this.catalog.findAgentCard(session.orgId, session.agent));
    if (!card) {
      await this.failTask(task, `agent ${session.agent} no longer exists`);
      return null;
    }
    const profile = session.request.profile
      ? await this.catalog.findProfile(session.orgId, session.request.profile)
      : null;
    // Only a card that resumes conversations needs the last one (one query fewer per task otherwise).
    const conversationId = card.resume ? await this.ctx.store.tasks.lastConversationId(session.id) : null;
    let open: Session;
    try {
      open = withOpenEnv(this.ctx.secrets, this.ctx.redactor, session);
    } catch (e: unknown) {
      // A value this server's key cannot open: the task fails saying so; the stored row is untouched.
      await this.failTask(task, `the session's env cannot be read: ${toError(e).message}`);
      return null;
    }
    const r = renderTask(card, task.prompt, taskContext(open, task, this.ctx.config, profile, conversationId));
    if (r.missing.length) {
      await this.failTask(task, missingEnvError(card, r.missing));
      return null;
    }
    // A runner whose workspace for the session is empty (a resume or fork landed there) restores this.
    const snap = await this.ctx.store.snapshots.latest(session.id);
    const extras = await sessionExtras(this.ctx, session, card);
    if (typeof extras === 'string') {
      await this.failTask(task, extras);
      return null;
    }
    return {
      taskId: task.id,
      sessionId: session.id,
      agent: card.name,
      workspace: null,
      resumeAfterSeq: known.claimed ? 0 : await this.ctx.store.logs.maxSeq(task.id),
      ...assignmentFields(r),
      ...(snap ? { restore: { snapshotId: snap.id, manifestId: snap.manifestId } } : {}),
      ...extras,
    };
  }

  private async failTask(task: Task, error: string): Promise<void> {
    if (
      await this.ctx.store.tasks.transition(task.id, 'failed', { error, finished_at: Date.now() }, [
        'queued',
        'assigned',
        'running',
      ])
    ) {
      if (task.runnerId) await this.ctx.store.runners.transition(task.runnerId, 'idle', {}, ['busy']);
      const t = await this.ctx.store.tasks.get(task.id);
      if (t) {
        emitTask(this.ctx, t);
        await this.taskFinished(t);
      }
    }
  }

  /**
   * The session side of a finished task, written through `tx`: the `task_finished` event, the
   * session back to idle when nothing is open, and under the per-task lifecycle its runner let go
   * (a pool runner is unbound here; a managed one is named in `terminateRunner` and terminated by
   * `after`, outside the transaction, since that talks to the provider). `after` runs after
   * commit: it terminates, emits and asks for a pass.
   */
  async finishTaskIn(
    task: Task,
    tx: Repos,
    opts: { callerUnbinds?: boolean } = {},
  ): Promise<{ terminateRunner: string | null; unbindRunner: string | null; after: () => Promise<void> }> {
    const session = await tx.sessions.get(task.sessionId);
    if (!session) return { terminateRunner: null, unbindRunner: null, after: async () => {} };
    // Read through `tx` unless the catalog is at hand: a read outside the transaction would wait
    // for the connection this transaction holds.
    const pool = session.poolId
      ? (this.catalog.loaded?.pools.find((p) => p.id === session.poolId) ?? (await tx.pools.byId(session.poolId)))
      : null;
    const releaseRunner =
      pool?.lifecycle === 'per-task' && session.runnerId !== null && !isTerminalSession(session.state);
    const managed = pool?.mode === 'managed';
    await tx.sessions.addEvent(session.id, session.orgId, 'task_finished', {
      taskId: task.id,
      state: task.state,
      exitCode: task.exitCode,
    });
    const patch = releaseRunner ? { runner_id: null } : {};
    // A pool runner is unbound here, or by the caller in the same transaction when it moves the
    // runner back to idle anyway (`callerUnbinds`: one write instead of two).
    const unbindRunner = releaseRunner && !managed ? session.runnerId : null;
    if (unbindRunner && !opts.callerUnbinds) await tx.runners.update(unbindRunner, { session_id: null });
    const open = await tx.tasks.openInSession(session.id);
    let updated: Session = { ...session, ...(releaseRunner ? { runnerId: null } : {}) };
    if (open.length === 0 && (await tx.sessions.transition(session.id, 'idle', patch, ['active'])))
      updated = { ...updated, state: 'idle' };
    else if (releaseRunner) await tx.sessions.update(session.id, patch);
    const terminateRunner = releaseRunner && managed ? session.runnerId : null;
    return {
      terminateRunner,
      unbindRunner,
      after: async () => {
        if (terminateRunner) {
          const runner = await this.ctx.store.runners.get(terminateRunner);
          if (runner) await this.runners.terminate(runner, 'per-task lifecycle: task finished');
        }
        emitSession(this.ctx, { ...updated, updatedAt: Date.now() });
        this.kick();
      },
    };
  }

  async taskFinished(task: Task): Promise<void> {
    const { after } = await this.ctx.store.transaction((tx) => this.finishTaskIn(task, tx));
    await after();
  }

  /** A lost task's retry policy: a retry while attempts remain, else a `task_lost` event. */
  async retryLost(task: Task): Promise<void> {
    const { store } = this.ctx;
    if (task.state !== 'lost') return;
    const session = await store.sessions.get(task.sessionId);
    if (session && !isTerminalSession(session.state) && task.attempt <= task.maxRetries) {
      const retry = await this.insertTask(session, task.prompt, undefined, task);
      await store.sessions.addEvent(session.id, session.orgId, 'task_retried', {
        lost: task.id,
        retry: retry.id,
        attempt: retry.attempt,
      });
      this.kick();
    } else if (session) {
      await store.sessions.addEvent(session.id, session.orgId, 'task_lost', { taskId: task.id });
    }
  }

  async runnerLost(runner: Runner, task: Task | null, reason?: string): Promise<void> {
    const { store } = this.ctx;
    if (task) await this.retryLost(task);
    if (runner.sessionId) {
      const session = await store.sessions.get(runner.sessionId);
      if (session && session.runnerId === runner.id && !isTerminalSession(session.state)) {
        const open = await store.tasks.openInSession(session.id);
        // The reason stays on the session (`sessions explain`) until it is placed again.
        const why = reason ? { state_reason: `runner lost: ${reason}` } : {};
        await store.sessions.transition(session.id, open.length ? 'scheduling' : 'idle', { runner_id: null, ...why }, [
          'active',
          'idle',
          'provisioning',
        ]);
        await store.sessions.addEvent(session.id, session.orgId, 'runner_lost', {
          runnerId: runner.id,
          ...(reason ? { reason } : {}),
        });
      }
    }
    const pool = await this.catalog.poolById(runner.poolId);
    if (pool?.mode === 'managed') await this.runners.terminate(runner, 'lease expired');
    else await store.runners.update(runner.id, { session_id: null });
    this.kick();
  }

  async failSession(session: Session, reason: string, placement?: Placement): Promise<void> {
    const ok = await this.ctx.store.sessions.transition(session.id, 'failed', {
      ended_at: Date.now(),
      state_reason: reason,
      ...(placement ? { placement: JSON.stringify(placement) } : {}),
    });
    if (!ok) return;
    for (const t of await this.ctx.store.tasks.openInSession(session.id))
      if (t.state === 'queued')
        await this.ctx.store.tasks.transition(
          t.id,
          'failed',
          { error: `session failed: ${reason}`, finished_at: Date.now() },
          ['queued'],
        );
    await this.ctx.store.sessions.addEvent(session.id, session.orgId, 'failed', { reason });
    await this.releaseRunner(session, reason);
    const s = await this.ctx.store.sessions.get(session.id);
    if (s) this.ctx.bus.emit('session:updated', { session: s });
  }

  /** Lets go of a session's runner: managed runners are terminated, pool runners go back to idle. */
  async releaseRunner(session: Session, reason: string): Promise<void> {
    const runnerId = session.runnerId;
    if (!runnerId) return;
    const runner = await this.ctx.store.runners.get(runnerId);
    if (!runner || runner.state === 'terminated') return;
    const pool = await this.catalog.poolById(runner.poolId);
    // A managed pool with an idle_timeout takes an idle runner back, unbound; the autoscaler
    // reaps it after idle_timeout. Files the session left in the runner's workspace stay there
    // (docs/pools.md). With min_runners alone (the default local pool) the runner goes with its
    // session, so no session finds another's files and nothing piles up that nothing reaps: the
    // autoscaler keeps min_runners fresh ones warm.
    const backToPool =
      pool?.mode === 'managed' &&
      pool.lifecycle === 'per-session' &&
      pool.idleTimeoutMs !== null &&
      runner.state === 'idle' &&
      !runner.draining;
    if (pool?.mode === 'managed' && !backToPool) await this.runners.terminate(runner, reason);
    else {
      await this.ctx.store.runners.update(runner.id, { session_id: null });
      this.kick();
    }
  }
}
