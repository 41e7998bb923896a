/**
 * @module The runner side of the server (the gateway's handler): the hello/re-attach handshake,
 * log ingestion with acks, task completion, drain, leases and loss. Registration is in
 * src/server/runner-register.ts; starting and stopping managed runners in runner-control.ts. It is
 * built after the session side and calls back into it through `RunnerEvents`, given to its
 * constructor (no late wiring).
 */

import { Conflict, NotFound, toError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import type { Pool, RunnerState } from '../core/types.js';
import type { EgressLedger } from '../egress/ledger.js';
import { VERSION } from '../paths.js';
import { PROTOCOL_VERSION, type RegisterRequest, type RunnerMessage } from '../protocol/messages.js';
import type { OrgScope, Repos } from '../store/index.js';
import type { Runner, Session, Task } from '../store/records.js';
import type { ServerContext } from './context.js';
import { rejoinRefusal } from './dial-in.js';
import { crashPoint } from './faults.js';
import { fenceSandbox } from './fencing.js';
import type { GatewayHandler, RunnerConnection } from './gateway.js';
import { LogIngest } from './logingest.js';
import { decideTaskEnd } from './outcome.js';
import { recordRepoReady } from './repo-events.js';
import { auditConnect, auditRegistration } from './runner-audit.js';
import type { RunnerControl } from './runner-control.js';
import { rotateCredential, runnerForCredential } from './runner-credentials.js';
import { recordRunnerDenials } from './runner-egress.js';
import type { GatewayLinks } from './runner-links.js';
import { registerRunner } from './runner-register.js';
import type { SessionOps } from './session-ops.js';

/** What the runner side calls on the session side (given to RunnerService's constructor). */
export interface RunnerEvents {
  /** Sends a task's assignment to its runner (again, after the runner reconnected). */
  sendAssignment(task: Task): Promise<boolean>;
  /** The runner reported the task's end: a cancel fallback waiting for it is not needed. */
  taskReported(taskId: string): void;
  /**
   * The session side of a finished task, written through the caller's transaction `tx`. When
   * `terminateRunner` is set the runner is being let go (per-task lifecycle on a managed pool) and
   * must not go back to idle; `after` runs after commit (terminates it, emits, asks for a pass).
   */
  finishTaskIn(
    task: Task,
    tx: Repos,
    opts?: { callerUnbinds?: boolean },
  ): Promise<{ terminateRunner: string | null; unbindRunner: string | null; after: () => Promise<void> }>;
  /** `reason`: why the runner went (lease expired, its sandbox died and how). */
  runnerLost(runner: Runner, task: Task | null, reason?: string): Promise<void>;
  /** A task lost while its runner stays (it reconnected without it): the retry policy applies. */
  taskLost(task: Task): Promise<void>;
  runnerIdle(runner: Runner): void;
}

/** What the task-finished transaction decided (see RunnerService.onTaskFinished). */
interface FinishResult {
  session: Awaited<ReturnType<RunnerEvents['finishTaskIn']>>;
  /** The runner as it is now, to report; null when there is none or it is being terminated. */
  runner: Runner | null;
}

export class RunnerService implements GatewayHandler {
  /** The gateway's live connections. */
  readonly gateway: GatewayLinks;

  /** Log batches: storage, acks, refusals (the gateway's data lane). */
  private readonly logs: LogIngest;

  constructor(
    private readonly ctx: ServerContext,
    private readonly control: RunnerControl,
    private readonly events: RunnerEvents,
    /** Counts and reports what runners' egress proxies refused (nested sandboxes). */
    private readonly egress?: EgressLedger,
    /** Exec, diff and push on sessions' workspaces (./session-ops.ts): their answers come in here. */
    private readonly sessionOps?: SessionOps,
  ) {
    this.gateway = control.gateway;
    this.logs = new LogIngest(ctx);
  }

  // ---- registration -------------------------------------------------------------------------

  /** Exchanges a registration token for a runner credential (see runner-register.ts). */
  async register(req: RegisterRequest, from?: string): Promise<{ status: number; body: unknown }> {
    const r = await registerRunner(this.ctx, req);
    await auditRegistration(this.ctx, req, r, from);
    return r;
  }

  /**
   * The runner a credential belongs to: its current one, or the rotated one it was just given
   * (runner-credentials.ts). Every attempt is audited.
   */
  async authenticate(credential: string, from?: string): Promise<Runner | null> {
    const r = await runnerForCredential(this.ctx, credential);
    const found = r ?? (await this.ctx.store.runners.findByCredential(credential));
    await auditConnect(this.ctx, r, found, from);
    return r;
  }

  // ---- messages -----------------------------------------------------------------------------

  async onMessage(conn: RunnerConnection, msg: RunnerMessage): Promise<void> {
    if (msg.type !== 'hello' && !conn.helloDone) {
      conn.send({ type: 'error', code: 'protocol', message: 'the first message must be hello' });
      conn.close(4002, 'hello expected');
      return;
    }
    switch (msg.type) {
      case 'hello':
        return this.onHello(conn, msg);
      case 'heartbeat':
        await this.ctx.store.runners.renewLease(conn.runnerId, Date.now(), this.ctx.config.leaseTimeoutMs);
        conn.send({ type: 'lease', leaseMs: this.ctx.config.leaseTimeoutMs });
        return;
      case 'task.started':
        return this.onTaskStarted(conn, msg.taskId);
      case 'logs':
        return this.logs.onLogs(conn, msg.taskId, msg.lines);
      case 'task.finished':
        return this.onTaskFinished(conn, msg);
      case 'ack':
        this.ctx.log.debug({ runnerId: conn.runnerId, ref: msg.ref, ok: msg.ok }, 'runner ack');
        return;
      case 'egress.denied':
        return recordRunnerDenials(this.ctx, this.egress, conn.runnerId, msg);
      case 'credential.saved': {
        // The runner saved the credential its welcome carried: the old one stops working now.
        const next = conn.pendingCredential;
        conn.pendingCredential = null;
        if (next) await this.ctx.store.runners.confirmNextCredential(conn.runnerId, next);
        return;
      }
      case 'workspace.progress':
      case 'workspace.snapshotted':
        this.ctx.bus.emit('workspace:report', { runnerId: conn.runnerId, report: msg });
        return;
      case 'repo.ready':
        return recordRepoReady(this.ctx, conn.runnerId, msg);
      case 'session.op.output':
      case 'session.op.done':
      case 'session.op.input.ack':
        this.sessionOps?.onMessage(conn.runnerId, msg);
        return;
      default: {
        // Every message type is handled above: a new one is a compile error here (never).
        const unknown: never = msg;
        const type = JSON.stringify((unknown as { type?: unknown }).type);
        conn.send({ type: 'error', code: 'protocol', message: `unknown message type ${type}` });
        return;
      }
    }
  }

  private async onHello(conn: RunnerConnection, msg: Extract<RunnerMessage, { type: 'hello' }>): Promise<void> {
    const { store } = this.ctx;
    if (msg.protocol !== PROTOCOL_VERSION) {
      conn.send({
        type: 'error',
        code: 'protocol_mismatch',
        message: `server speaks protocol ${PROTOCOL_VERSION}, runner ${msg.protocol}: upgrade marionette-agent`,
      });
      conn.close(4003, 'protocol mismatch');
      return;
    }
    if (msg.runnerId !== conn.runnerId) {
      conn.send({
        type: 'error',
        code: 'protocol',
        message: `hello names runner ${msg.runnerId} but the credential is for ${conn.runnerId}`,
      });
      conn.close(4002, 'runner mismatch');
      return;
    }
    const now = Date.now();
    await store.runners.renewLease(conn.runnerId, now, this.ctx.config.leaseTimeoutMs);
    const runner = await store.runners.get(conn.runnerId);
    if (!runner || runner.state === 'terminated') {
      conn.send({ type: 'error', code: 'terminated', message: 'this runner has been terminated' });
      conn.close(4004, 'terminated');
      return;
    }
    const full = await rejoinRefusal(store, runner);
    if (full) {
      conn.send({ type: 'error', code: 'pool_full', message: full });
      conn.close(4009, 'pool full');
      return;
    }
    conn.helloDone = true;
    let resume: { taskId: string; ackedSeq: number; keep: boolean } | null = null;
    let busy = false;
    let resend: Task | null = null;
    if (msg.task) {
      const task = await store.tasks.get(msg.task.taskId);
      const ackedSeq = task ? await store.logs.contiguousSeq(task.id) : 0;
      const keep = Boolean(
        task && task.runnerId === runner.id && (task.state === 'assigned' || task.state === 'running'),
      );
      resume = { taskId: msg.task.taskId, ackedSeq, keep };
      busy = keep;
    } else {
      const active = await store.tasks.activeForRunner(runner.id);
      if (active?.state === 'assigned') {
        busy = true;
        resend = active;
      } else if (active?.state === 'running') {
        // The runner restarted and lost the process, or fenced it (src/agent/fence.ts): the task is lost.
        const lost = await this.loseTask(
          active,
          'the runner no longer runs the task (it restarted, or fenced it when out of contact)',
        );
        // Reconnecting before the lease reaper got to it must not cost the task its retry.
        const t = lost ? await store.tasks.get(active.id) : null;
        if (t) await this.events.taskLost(t);
      }
    }
    const target: RunnerState = busy ? 'busy' : runner.draining ? 'draining' : 'idle';
    // The nested runtimes it has (placement of runner-creates-sandbox pools reads them), stored before it turns idle.
    const runtimes = msg.sandboxRuntimes ? { sandbox_runtimes: JSON.stringify(msg.sandboxRuntimes) } : {};
    if (runner.state !== target)
      await store.runners.transition(runner.id, target, { agent_version: msg.agentVersion, ...runtimes });
    else if (msg.sandboxRuntimes) await store.runners.update(runner.id, runtimes);
    // A fresh credential on every hello; the old one works until the runner says it saved this one.
    conn.pendingCredential = await rotateCredential(this.ctx, runner.id);
    conn.send({
      type: 'welcome',
      protocol: PROTOCOL_VERSION,
      runnerId: runner.id,
      heartbeatIntervalMs: this.ctx.config.heartbeatIntervalMs,
      resume,
      ...(conn.pendingCredential ? { credential: conn.pendingCredential } : {}),
    });
    conn.send({ type: 'lease', leaseMs: this.ctx.config.leaseTimeoutMs }); // hello renewed it
    this.ctx.log.info({ runnerId: runner.id, resume }, 'runner connected');
    this.ctx.bus.emit('runner:connected', { runnerId: runner.id, workspaces: msg.workspaces ?? [] });
    if (resend) await this.events.sendAssignment(resend);
    const fresh = await store.runners.get(runner.id);
    if (fresh) this.ctx.bus.emit('runner:updated', { runner: fresh });
    if (target === 'idle' && fresh) this.events.runnerIdle(fresh);
  }

  private async onTaskStarted(conn: RunnerConnection, taskId: string): Promise<void> {
    const task = await this.ctx.store.tasks.markStarted(taskId, conn.runnerId, Date.now());
    if (task) this.ctx.bus.emit('task:updated', { task });
  }

  private async onTaskFinished(
    conn: RunnerConnection,
    msg: Extract<RunnerMessage, { type: 'task.finished' }>,
  ): Promise<void> {
    const { store } = this.ctx;
    // The runner lets go of its result only at the ack, so the ack follows the commit: a crash
    // before it leaves the runner holding the result, and it reports again when it reconnects.
    const ack = () => conn.send({ type: 'task.finished.ack', taskId: msg.taskId });
    const task = await store.tasks.get(msg.taskId);
    if (!task || task.runnerId !== conn.runnerId) {
      ack();
      return;
    }
    crashPoint(this.ctx.config, 'task:finished:received');
    this.events.taskReported(task.id);
    const now = Date.now();
    const { state: to, error } = decideTaskEnd(msg, task.cancelRequested);
    const done: Task = { ...task, state: to, exitCode: msg.exitCode, error, finishedAt: now, outcome: msg.outcome };
    const outcome = msg.outcome ? { outcome: JSON.stringify(msg.outcome) } : {};
    // One transaction: the task's end, the session side (its event, back to idle, a per-task runner
    // let go) and the runner back to idle. No pass sees one without the others, so a per-task
    // runner is never handed another task while still bound to this session.
    const record = (): Promise<FinishResult | null> =>
      store.transaction(async (tx): Promise<FinishResult | null> => {
        const ok = await tx.tasks.transition(
          task.id,
          to,
          { exit_code: msg.exitCode, error, finished_at: now, ...outcome },
          ['assigned', 'running'],
        );
        // A repeated report (after a reconnect, or after a forced cancel) changes nothing.
        if (!ok) return null;
        // The session side may let go of this runner (per-task lifecycle); the runner's own write
        // below carries that unbinding, so it is one write.
        const session = await this.events.finishTaskIn(done, tx, { callerUnbinds: true });
        const unbind = session.unbindRunner;
        const runner = await tx.runners.get(conn.runnerId);
        if (runner && done.outcome) await tx.tasks.addAgentCost(done, runner);
        // The unbinding of a runner other than this one (or one that cannot move to idle) is written on its own.
        const unbindAlone = async () => {
          if (unbind) await tx.runners.update(unbind, { session_id: null });
        };
        // A runner being let go is terminated after commit (and reported by terminate).
        if (!runner || session.terminateRunner === runner.id) {
          await unbindAlone();
          return { session, runner: null };
        }
        const mine = unbind === runner.id;
        if (!mine) await unbindAlone();
        const unbound = mine ? { sessionId: null } : {};
        if (runner.state === 'busy' || runner.state === 'draining') {
          const target: RunnerState = runner.draining ? 'draining' : 'idle';
          if (await tx.runners.transition(runner.id, target, mine ? { session_id: null } : {}, ['busy', 'draining'])) {
            const at = Date.now();
            return {
              session,
              runner: {
                ...runner,
                ...unbound,
                state: target,
                updatedAt: at,
                ...(target === 'idle' ? { idleSince: at } : {}),
              },
            };
          }
          if (mine) await unbindAlone();
          return { session, runner: (await tx.runners.get(runner.id)) ?? runner };
        }
        if (mine) await unbindAlone();
        return { session, runner: { ...runner, ...unbound } };
      });
    let result: FinishResult | null;
    try {
      result = await record();
    } catch (e: unknown) {
      // Not recorded, so not acknowledged: dropping the connection makes the runner report again.
      this.ctx.log.error({ err: toError(e), runnerId: conn.runnerId, taskId: task.id }, 'recording a task end failed');
      conn.close(1011, 'the server could not record the task end');
      return;
    }
    crashPoint(this.ctx.config, 'task:finished:committed');
    ack();
    if (!result) return;
    this.ctx.bus.emit('task:updated', { task: done });
    await result.session.after();
    const fresh = result.runner;
    if (!fresh) return;
    this.ctx.bus.emit('runner:updated', { runner: fresh });
    if (fresh.state === 'idle') this.events.runnerIdle(fresh);
  }

  onClose(conn: RunnerConnection): void {
    this.ctx.log.info({ runnerId: conn.runnerId }, 'runner disconnected');
    this.sessionOps?.runnerGone(conn.runnerId);
    void this.finishDrain(conn.runnerId).catch((e: unknown) =>
      this.ctx.log.error({ err: toError(e), runnerId: conn.runnerId }, 'finishing a drain failed'),
    );
  }

  // ---- drain --------------------------------------------------------------------------------

  /**
   * Drains a runner: it finishes the task it holds and takes no more (the claim refuses a
   * draining runner). An idle runner goes to `draining` at once; the agent exits when it has
   * nothing left to report, and its disconnect ends the drain (`finishDrain`).
   */
  async drain(org: OrgScope, id: string): Promise<Runner> {
    const { store } = this.ctx;
    const runner = await store.runners.getIn(org, id);
    if (!runner) throw new NotFound('runner', id, 'list runners with `mctl runners list`');
    if (runner.state === 'terminated' || runner.state === 'offline')
      throw new Conflict(`runner ${id} is ${runner.state}; there is nothing to drain`);
    await store.runners.update(id, { draining: 1 });
    await store.runners.transition(id, 'draining', {}, ['idle']);
    const sent = this.gateway.send(id, { type: 'drain', ref: newId('cmd') });
    this.ctx.log.info({ runnerId: id, connected: sent }, 'runner draining');
    if (!sent) await this.finishDrain(id);
    const fresh = (await store.runners.get(id)) ?? runner;
    this.ctx.bus.emit('runner:updated', { runner: fresh });
    return fresh;
  }

  /** A draining runner with no task that is gone (or going): terminated, its sandbox stopped. */
  async finishDrain(runnerId: string): Promise<void> {
    const runner = await this.ctx.store.runners.get(runnerId);
    if (!runner?.draining || runner.state !== 'draining') return;
    if (this.gateway.isConnected(runnerId)) return;
    if (await this.ctx.store.tasks.activeForRunner(runnerId)) return;
    await this.terminate(runner, 'drained');
  }

  // ---- leases and loss ----------------------------------------------------------------------

  /** Marks a task lost (compare-and-set) and tells the session side, which applies the retry policy. */
  async loseTask(task: Task, reason: string): Promise<boolean> {
    const ok = await this.ctx.store.tasks.transition(task.id, 'lost', { error: reason, finished_at: Date.now() }, [
      'assigned',
      'running',
    ]);
    if (ok) {
      const t = await this.ctx.store.tasks.get(task.id);
      if (t) this.ctx.bus.emit('task:updated', { task: t });
    }
    return ok;
  }

  /** Runners whose lease expired go offline; their task is lost. */
  async reapExpiredLeases(now = Date.now()): Promise<void> {
    for (const runner of await this.ctx.store.runners.expiredLeases(now))
      await this.markOffline(runner, `runner ${runner.id} stopped responding (lease expired)`, now);
  }

  /**
   * Takes a runner out of service now (lease expired, or its sandbox died): it goes offline, its
   * task is lost, and the session side applies the retry policy and re-attaches the session.
   * Returns false when the runner was already out of service.
   */
  async markOffline(runner: Runner, reason: string, leaseExpiredAt?: number): Promise<boolean> {
    const { store } = this.ctx;
    // A runner being terminated on purpose has lost nothing: its sandbox is going away by design.
    if (this.control.isTerminating(runner.id)) return false;
    // The reaper read the lease before this write: a runner that reconnected since keeps its place.
    const offline =
      leaseExpiredAt === undefined
        ? await store.runners.transition(runner.id, 'offline', {}, [runner.state])
        : await store.runners.expireLease(runner.id, runner.state, leaseExpiredAt);
    if (!offline) return false;
    this.gateway.connections.get(runner.id)?.close(4005, reason.slice(0, 100));
    this.ctx.log.warn({ runnerId: runner.id, reason }, 'runner offline');
    await fenceSandbox(this.ctx, runner); // the old attempt dies before its task is lost
    const task = await store.tasks.activeForRunner(runner.id);
    if (task) await this.loseTask(task, reason);
    const fresh = (await store.runners.get(runner.id)) ?? runner;
    this.ctx.bus.emit('runner:updated', { runner: fresh });
    const lostTask = task ? await store.tasks.get(task.id) : null;
    await this.events.runnerLost(fresh, lostTask, reason);
    return true;
  }

  /** After a server restart: give every live runner a fresh lease to reconnect in. */
  async graceAfterRestart(now = Date.now()): Promise<void> {
    for (const r of await this.ctx.store.runners.live())
      await this.ctx.store.runners.renewLease(r.id, now, this.ctx.config.leaseTimeoutMs);
  }

  // ---- managed runners (see RunnerControl) --------------------------------------------------

  /**
   * Creates a runner row and a one-time registration token bound to it, then asks the pool's
   * provider to start the sandbox (see runner-provision.ts). Throws PoolFull or the provider's error.
   */
  provision(pool: Pool, session: Session | null): Promise<Runner> {
    return this.control.provision(pool, session);
  }

  /** Stops a managed runner's sandbox, marks it terminated and writes its cost event. */
  terminate(runner: Runner, reason: string): Promise<void> {
    return this.control.terminate(runner, reason);
  }

  /** A cost event: wall-clock seconds and the provider's billing model. */
  recordCost(runner: Runner, endedAt: number): Promise<void> {
    return this.control.recordCost(runner, endedAt);
  }

  static readonly agentVersion = VERSION;
}
