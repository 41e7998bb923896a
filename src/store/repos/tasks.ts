/**
 * @module Tasks. Claiming is a compare-and-set from `queued` to `assigned` bound to one runner,
 * so a task never lands on two runners and a runner never gets two tasks (the runner side of the
 * claim is guarded in RunnerRepo, both inside one transaction).
 */
import { type Kysely, sql, type Updateable } from 'kysely';
import { newId } from '../../core/ids.js';
import { TASK_TERMINAL, TASK_TRANSITIONS } from '../../core/states.js';
import type { TaskState } from '../../core/types.js';
import type { ChangeLog } from '../changes.js';
import { arg, args, patchShape, run, setFrom } from '../prepared.js';
import { type Runner, type Task, toTask } from '../records.js';
import type { Database, TasksTable } from '../schema.js';
import { inScope, type OrgScope } from '../scope.js';
import { casTransition } from '../transition.js';

/** A queued task as an assigner pass sees it. */
export interface QueuedTaskRef {
  id: string;
  sessionId: string;
  createdAt: number;
  /** Order within the session (set when read by session, to order tasks created the same millisecond). */
  ordinal?: number;
}

export type TaskPatch = Omit<Updateable<TasksTable>, 'id' | 'state' | 'org_id' | 'session_id'>;

export class TaskRepo {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly changes?: ChangeLog,
  ) {}

  /**
   * Inserts a task as the next ordinal of its session, in one statement (the ordinal is a
   * subquery), so it needs no transaction of its own and can run inside a caller's.
   */
  async insert(row: Omit<TasksTable, 'ordinal'>): Promise<Task> {
    this.changes?.session(row.session_id);
    try {
      const set = patchShape({ ...row });
      const n = set.values.length;
      const r = await run(this.db, `tasks.insert:${set.key}`, [...set.values, row.session_id], (p) =>
        this.db
          .insertInto('tasks')
          .values({
            ...(setFrom(set.columns, p) as unknown as Omit<TasksTable, 'ordinal'>),
            ordinal: (eb) =>
              eb
                .selectFrom('tasks')
                .select(sql<number>`coalesce(max(ordinal), 0) + 1`.as('next'))
                .where('session_id', '=', arg(p, n)),
          })
          .returning('ordinal'),
      );
      const ordinal = r.rows[0]?.ordinal;
      if (ordinal === undefined) throw new Error(`inserting task ${row.id} returned no row`);
      return toTask({ ...row, ordinal: Number(ordinal) });
    } finally {
      this.changes?.session(row.session_id);
    }
  }

  /** A task by id, whatever its org (the system's own reads; the API uses `getIn`). */
  async get(id: string): Promise<Task | null> {
    const r = await run(this.db, 'tasks.get', [id], ([id]) =>
      this.db.selectFrom('tasks').selectAll().where('id', '=', id),
    );
    const row = r.rows[0];
    return row ? toTask(row) : null;
  }

  /** A task of the org by id (another org's is null). */
  getIn(scope: OrgScope, id: string): Promise<Task | null> {
    return inScope(scope, async () => {
      const r = await run(this.db, 'tasks.get.org', [id, scope.orgId], ([id, org]) =>
        this.db.selectFrom('tasks').selectAll().where('id', '=', id).where('org_id', '=', org),
      );
      const row = r.rows[0];
      return row ? toTask(row) : null;
    });
  }

  async listBySession(sessionId: string): Promise<Task[]> {
    const rows = await this.db
      .selectFrom('tasks')
      .selectAll()
      .where('session_id', '=', sessionId)
      .orderBy('ordinal')
      .execute();
    return rows.map(toTask);
  }

  list(scope: OrgScope, opts: { limit: number; sessionId?: string; states?: TaskState[] }): Promise<Task[]> {
    return inScope(scope, async () => {
      let q = this.db.selectFrom('tasks').selectAll().where('org_id', '=', scope.orgId);
      if (opts.sessionId) q = q.where('session_id', '=', opts.sessionId);
      if (opts.states?.length) q = q.where('state', 'in', opts.states);
      return (await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(opts.limit).execute()).map(toTask);
    });
  }

  async listByState(states: TaskState[]): Promise<Task[]> {
    const rows = await this.db
      .selectFrom('tasks')
      .selectAll()
      .where('state', 'in', states)
      .orderBy('created_at')
      .orderBy('ordinal')
      .execute();
    return rows.map(toTask);
  }

  /** Queued tasks, oldest first, as the assigner orders them: only id, session and creation time. */
  async queuedRefs(): Promise<QueuedTaskRef[]> {
    const rows = await this.db
      .selectFrom('tasks')
      .select(['id', 'session_id', 'created_at'])
      .where('state', '=', 'queued')
      .orderBy('created_at')
      .orderBy('ordinal')
      .execute();
    return rows.map((r) => ({ id: r.id, sessionId: r.session_id, createdAt: Number(r.created_at) }));
  }

  /** Queued tasks of the given sessions, oldest first (as `queuedRefs`). */
  async queuedRefsIn(sessionIds: readonly string[]): Promise<QueuedTaskRef[]> {
    const out: QueuedTaskRef[] = [];
    for (let i = 0; i < sessionIds.length; i += 500) {
      const rows = await this.db
        .selectFrom('tasks')
        .select(['id', 'session_id', 'created_at', 'ordinal'])
        .where('session_id', 'in', sessionIds.slice(i, i + 500))
        .where('state', '=', 'queued')
        .execute();
      for (const r of rows)
        out.push({ id: r.id, sessionId: r.session_id, createdAt: Number(r.created_at), ordinal: Number(r.ordinal) });
    }
    return out.sort((a, b) => a.createdAt - b.createdAt || (a.ordinal ?? 0) - (b.ordinal ?? 0));
  }

  /** The sessions the given tasks belong to. */
  async sessionIdsOf(taskIds: readonly string[]): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < taskIds.length; i += 500) {
      const rows = await this.db
        .selectFrom('tasks')
        .select('session_id')
        .where('id', 'in', taskIds.slice(i, i + 500))
        .execute();
      for (const r of rows) out.push(r.session_id);
    }
    return out;
  }

  /** Tasks not yet finished in a session. */
  async openInSession(sessionId: string): Promise<Task[]> {
    const terminal = TASK_TERMINAL as TaskState[];
    const r = await run(this.db, 'tasks.openInSession', [sessionId, ...terminal], (p) =>
      this.db
        .selectFrom('tasks')
        .selectAll()
        .where('session_id', '=', arg(p, 0))
        .where('state', 'not in', args(p, 1, 1 + terminal.length))
        .orderBy('ordinal'),
    );
    return r.rows.map(toTask);
  }

  /** The task a runner holds (assigned or running), if any. */
  async activeForRunner(runnerId: string): Promise<Task | null> {
    const r = await this.db
      .selectFrom('tasks')
      .selectAll()
      .where('runner_id', '=', runnerId)
      .where('state', 'in', ['assigned', 'running'])
      .executeTakeFirst();
    return r ? toTask(r) : null;
  }

  /** Whether the session has a task assigned or running (tasks in a session run one at a time). */
  async activeForRunnerInSession(sessionId: string): Promise<boolean> {
    const r = await this.db
      .selectFrom('tasks')
      .select('id')
      .where('session_id', '=', sessionId)
      .where('state', 'in', ['assigned', 'running'])
      .executeTakeFirst();
    return r !== undefined;
  }

  /** Sessions that have a task assigned or running (one read for a whole assigner pass). */
  async sessionsWithActiveTask(): Promise<Set<string>> {
    const rows = await this.db
      .selectFrom('tasks')
      .select('session_id')
      .where('state', 'in', ['assigned', 'running'])
      .execute();
    return new Set(rows.map((r) => r.session_id));
  }

  /**
   * The agent conversation a session's next task resumes: the conversation id of its latest task
   * whose agent reported one (null when none did).
   */
  async lastConversationId(sessionId: string): Promise<string | null> {
    const rows = await this.db
      .selectFrom('tasks')
      .select('outcome')
      .where('session_id', '=', sessionId)
      .where('outcome', 'is not', null)
      .orderBy('ordinal', 'desc')
      .orderBy('attempt', 'desc')
      .limit(20)
      .execute();
    for (const r of rows) {
      const id = r.outcome ? (JSON.parse(r.outcome) as { conversationId?: unknown }).conversationId : null;
      if (typeof id === 'string' && id) return id;
    }
    return null;
  }

  /**
   * The cost event of a finished task whose agent reported tokens or a cost: the agent's own
   * figures, the task's wall-clock seconds, billing model `agent-reported`.
   */
  async addAgentCost(task: Task, runner: Pick<Runner, 'poolId' | 'providerId' | 'id'>): Promise<void> {
    const o = task.outcome;
    if (!o || (!o.usage && o.costUsd === null)) return;
    const started = task.startedAt ?? task.assignedAt ?? task.createdAt;
    const ended = task.finishedAt ?? Date.now();
    await this.db
      .insertInto('cost_events')
      .values({
        id: newId('cst'),
        org_id: task.orgId,
        runner_id: runner.id,
        session_id: task.sessionId,
        pool_id: runner.poolId,
        provider_id: runner.providerId,
        billing_model: 'agent-reported',
        started_at: started,
        ended_at: ended,
        seconds: Math.max(0, (ended - started) / 1000),
        created_at: Date.now(),
        task_id: task.id,
        input_tokens: o.usage?.inputTokens ?? null,
        output_tokens: o.usage?.outputTokens ?? null,
        cache_read_tokens: o.usage?.cacheReadTokens ?? null,
        cache_write_tokens: o.usage?.cacheWriteTokens ?? null,
        cost_usd: o.costUsd,
        model: o.model,
      })
      .execute();
  }

  /** Compare-and-set state change; false when the guard did not hold. */
  async transition(id: string, to: TaskState, patch: TaskPatch = {}, from?: TaskState[]): Promise<boolean> {
    this.changes?.task(id);
    try {
      return await casTransition(this.db, 'tasks', TASK_TRANSITIONS, id, to, { ...patch, state: to }, from);
    } finally {
      this.changes?.task(id);
    }
  }

  /**
   * `assigned` → `running` for the runner that holds the task, in one statement. Returns the
   * started task, or null when the task is not assigned to that runner (any more).
   */
  async markStarted(id: string, runnerId: string, now: number): Promise<Task | null> {
    this.changes?.task(id);
    try {
      const r = await run(this.db, 'tasks.markStarted', [now, id, runnerId], ([now, id, runner]) =>
        this.db
          .updateTable('tasks')
          .set({ state: 'running', started_at: now })
          .where('id', '=', id)
          .where('runner_id', '=', runner)
          .where('state', '=', 'assigned')
          .returningAll(),
      );
      const row = r.rows[0];
      return row ? toTask(row) : null;
    } finally {
      this.changes?.task(id);
    }
  }

  async update(id: string, patch: TaskPatch): Promise<void> {
    this.changes?.task(id);
    try {
      await this.db.updateTable('tasks').set(patch).where('id', '=', id).execute();
    } finally {
      this.changes?.task(id);
    }
  }
}
