/**
 * @module Sessions and tasks on the server: the service the API and the other services talk to.
 * It wires the parts together and keeps what is left over: cancellation and idle-session reaping.
 *
 * - src/server/session-catalog.ts: agent cards, profiles and pools as last read
 * - src/server/session-create.ts: request resolution and creation
 * - src/server/placement.ts: the pure scheduler fed with live pool state, and acting on its decision
 * - src/server/assigner.ts: the assigner (queue, pass) that binds queued tasks to idle runners
 * - src/server/task-lifecycle.ts: a task's end, a lost runner and the retry policy, failing
 * - src/server/task-commands.ts: a task's assignment and cancel, sent to its runner
 *
 * It needs only RunnerControl (managed runners, the gateway's connections); the runner side
 * (RunnerService) is built after it and calls back through `runnerEvents`.
 */
import { Conflict } from '../core/errors.js';
import { isTerminalSession } from '../core/states.js';
import type { AgentCard, Pool, Profile } from '../core/types.js';
import type { OrgScope } from '../store/index.js';
import type { Placement, Session, SessionRequest, Task } from '../store/records.js';
import { Assigner } from './assigner.js';
import type { ServerContext } from './context.js';
import { type PassSnapshot, Placer } from './placement.js';
import type { RunnerControl } from './runner-control.js';
import type { RunnerEvents } from './runners.js';
import { SessionCatalog } from './session-catalog.js';
import { getSession, getTask, sessionById } from './session-common.js';
import { SessionCreator } from './session-create.js';
import type { CreateSessionBody, CreateTaskBody } from './session-requests.js';
import { TaskCommands } from './task-commands.js';
import { TaskLifecycle } from './task-lifecycle.js';

export class SessionService {
  /** Health of providers as last probed (`null` = reachable). */
  readonly providerHealth = new Map<string, string | null>();
  private readonly catalog: SessionCatalog;
  private readonly lifecycle: TaskLifecycle;
  private readonly commands: TaskCommands;
  private readonly placer: Placer;
  private readonly assigner: Assigner;
  private readonly creator: SessionCreator;

  /** What the runner side (RunnerService) calls on this side; pass it to its constructor. */
  readonly runnerEvents: RunnerEvents;

  constructor(
    private readonly ctx: ServerContext,
    runners: RunnerControl,
  ) {
    // The parts ask the assigner for passes; it is built last since it places through them.
    const kick = () => this.assigner.kick();
    this.catalog = new SessionCatalog(ctx);
    this.lifecycle = new TaskLifecycle(ctx, runners, this.catalog, kick);
    this.commands = new TaskCommands(ctx, runners, this.lifecycle);
    this.placer = new Placer(ctx, runners, this.catalog, this.lifecycle, this.commands, this.providerHealth, kick);
    this.assigner = new Assigner(ctx, runners, this.catalog, this.placer, this.commands, this.providerHealth);
    this.creator = new SessionCreator(ctx, this.catalog, this.placer, this.lifecycle, kick);
    this.runnerEvents = {
      sendAssignment: (t) => this.commands.sendAssignment(t),
      taskReported: (id) => this.commands.clearCancel(id),
      finishTaskIn: (t, tx, opts) => this.lifecycle.finishTaskIn(t, tx, opts),
      runnerLost: (r, t, why) => this.lifecycle.runnerLost(r, t, why),
      taskLost: (t) => this.lifecycle.retryLost(t),
      runnerIdle: () => this.kick(),
    };
  }

  // ---- catalog, reads and creation ------------------------------------------------------------

  agentCards(org: OrgScope): Promise<AgentCard[]> {
    return this.catalog.agentCards(org);
  }

  /** The org's pools, from the catalog. */
  pools(org: OrgScope): Promise<Pool[]> {
    return this.catalog.pools(org);
  }

  /** Every org's pools, from the catalog (the autoscaler's and preemption's view). */
  allPools(): Promise<Pool[]> {
    return this.catalog.allPools();
  }

  agentCard(org: OrgScope, name: string): Promise<AgentCard> {
    return this.catalog.agentCard(org, name);
  }

  profile(org: OrgScope, name: string): Promise<Profile> {
    return this.catalog.profile(org, name);
  }

  createSession(
    org: OrgScope,
    body: CreateSessionBody,
  ): Promise<{ session: Session; tasks: Task[] } | { dryRun: true; decision: Placement }> {
    return this.creator.createSession(org, body);
  }

  createTask(org: OrgScope, sessionId: string, body: CreateTaskBody): Promise<Task> {
    return this.creator.createTask(org, sessionId, body);
  }

  getSession(org: OrgScope, id: string): Promise<Session> {
    return getSession(this.ctx, org, id);
  }

  /** A session whatever its org: the system's own work (suspend, resume), after the route's org check. */
  sessionById(id: string): Promise<Session> {
    return sessionById(this.ctx, id);
  }

  getTask(org: OrgScope, id: string): Promise<Task> {
    return getTask(this.ctx, org, id);
  }

  /** Runs the pure scheduler over the org's live pools for a request (see Placer.evaluate). */
  evaluate(org: OrgScope, projectId: string, request: SessionRequest, snap?: PassSnapshot) {
    return this.placer.evaluate(org, projectId, request, snap);
  }

  /** The session side of a finished task, written through `tx` (see TaskLifecycle.finishTaskIn). */
  finishTaskIn(...args: Parameters<TaskLifecycle['finishTaskIn']>): ReturnType<TaskLifecycle['finishTaskIn']> {
    return this.lifecycle.finishTaskIn(...args);
  }

  // ---- the assigner -------------------------------------------------------------------------

  /** Asks for an assigner pass (coalesced). */
  kick(): void {
    this.assigner.kick();
  }

  /** Resolves when no pass is running (for shutdown and tests). */
  settled(): Promise<void> {
    return this.assigner.settled();
  }

  /** Drops pending timers (cancel fallbacks) at shutdown. */
  close(): void {
    this.commands.close();
  }

  /** Sessions and runners a pool change could affect: re-run placement. */
  poolsChanged(localOnly = false): void {
    this.catalog.invalidate();
    this.placer.clearCompiled();
    // Other replicas' catalogs too (PostgreSQL, src/server/change-feed.ts), unless the change came
    // from one of them or concerns this replica alone (its provider health probe).
    if (!localOnly) this.ctx.store.feed?.catalogChanged();
    this.kick();
  }

  // ---- cancellation and reaping --------------------------------------------------------------

  async cancelTask(org: OrgScope, id: string): Promise<Task> {
    const task = await getTask(this.ctx, org, id);
    if (task.state === 'queued') {
      if (
        await this.ctx.store.tasks.transition(
          id,
          'cancelled',
          { error: 'cancelled by request', finished_at: Date.now() },
          ['queued'],
        )
      ) {
        const t = await getTask(this.ctx, org, id);
        this.ctx.bus.emit('task:updated', { task: t });
        await this.lifecycle.taskFinished(t);
        return t;
      }
      return this.cancelTask(org, id);
    }
    if (task.state === 'assigned' || task.state === 'running') {
      await this.commands.cancelRunningTask(task);
      return getTask(this.ctx, org, id);
    }
    throw new Conflict(`task ${id} is already ${task.state}`);
  }

  async cancelSession(org: OrgScope, id: string): Promise<Session> {
    const session = await getSession(this.ctx, org, id);
    if (isTerminalSession(session.state)) throw new Conflict(`session ${id} is already ${session.state}`);
    if (
      !(await this.ctx.store.sessions.transition(id, 'cancelled', {
        ended_at: Date.now(),
        state_reason: 'cancelled by request',
      }))
    )
      return this.cancelSession(org, id);
    for (const t of await this.ctx.store.tasks.openInSession(id)) {
      if (t.state === 'queued')
        await this.ctx.store.tasks.transition(
          t.id,
          'cancelled',
          { error: 'session cancelled', finished_at: Date.now() },
          ['queued'],
        );
      else await this.commands.cancelRunningTask(t);
    }
    await this.ctx.store.sessions.addEvent(id, session.orgId, 'cancelled', {});
    await this.lifecycle.releaseRunner(session, 'session cancelled');
    const s = await getSession(this.ctx, org, id);
    this.ctx.bus.emit('session:updated', { session: s });
    return s;
  }

  /** Completes sessions idle longer than `sessions.idle_timeout`, releasing their runners. */
  async reapIdleSessions(now = Date.now()): Promise<void> {
    for (const s of await this.ctx.store.sessions.listByState(['idle'])) {
      if (now - s.updatedAt < this.ctx.config.sessionIdleTimeoutMs) continue;
      if (
        await this.ctx.store.sessions.transition(s.id, 'completed', { ended_at: now, state_reason: 'idle timeout' }, [
          'idle',
        ])
      ) {
        await this.ctx.store.sessions.addEvent(s.id, s.orgId, 'completed', { reason: 'idle timeout' });
        await this.lifecycle.releaseRunner(s, 'session completed');
      }
    }
  }
}
