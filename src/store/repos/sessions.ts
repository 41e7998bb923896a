/**
 * @module Sessions and their event stream. State changes are compare-and-set writes guarded by
 * the session state table.
 */
import type { Kysely, Updateable } from 'kysely';
import { SESSION_TERMINAL, SESSION_TRANSITIONS } from '../../core/states.js';
import type { SessionState } from '../../core/types.js';
import type { ChangeLog } from '../changes.js';
import { arg, patchShape, run, setFrom } from '../prepared.js';
import { type Session, toSession } from '../records.js';
import type { Database, SessionsTable } from '../schema.js';
import { inScope, type OrgScope } from '../scope.js';
import { casTransition } from '../transition.js';

export interface SessionEvent {
  id: number;
  sessionId: string;
  type: string;
  data: Record<string, unknown>;
  ts: number;
}

/** What an assigner pass reads of every session it might visit (see SessionRepo.passViews). */
export interface SessionPassView {
  id: string;
  state: SessionState;
  runnerId: string | null;
  poolId: string | null;
  stateReason: string | null;
  priority: number;
  createdAt: number;
}

export type SessionPatch = Omit<Updateable<SessionsTable>, 'id' | 'state' | 'org_id'>;

export class SessionRepo {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly changes?: ChangeLog,
    /** Applied to event data before it is written (the server's redaction of known secret values). */
    private readonly redact?: (data: Record<string, unknown>) => Record<string, unknown>,
  ) {}

  async insert(row: SessionsTable): Promise<Session> {
    this.changes?.session(row.id);
    try {
      const set = patchShape({ ...row });
      await run(this.db, `sessions.insert:${set.key}`, set.values, (p) =>
        this.db.insertInto('sessions').values(setFrom(set.columns, p) as unknown as SessionsTable),
      );
      return toSession(row);
    } finally {
      this.changes?.session(row.id);
    }
  }

  /** A session by id, whatever its org (the system's own reads; the API uses `getIn`). */
  async get(id: string): Promise<Session | null> {
    const r = await run(this.db, 'sessions.get', [id], ([id]) =>
      this.db.selectFrom('sessions').selectAll().where('id', '=', id),
    );
    const row = r.rows[0];
    return row ? toSession(row) : null;
  }

  /** A session of the org by id (another org's is null). */
  getIn(scope: OrgScope, id: string): Promise<Session | null> {
    return inScope(scope, async () => {
      const r = await run(this.db, 'sessions.get.org', [id, scope.orgId], ([id, org]) =>
        this.db.selectFrom('sessions').selectAll().where('id', '=', id).where('org_id', '=', org),
      );
      const row = r.rows[0];
      return row ? toSession(row) : null;
    });
  }

  list(scope: OrgScope, opts: { limit: number; before?: number; states?: SessionState[] }): Promise<Session[]> {
    return inScope(scope, async () => {
      let q = this.db.selectFrom('sessions').selectAll().where('org_id', '=', scope.orgId);
      if (opts.before !== undefined) q = q.where('created_at', '<', opts.before);
      if (opts.states?.length) q = q.where('state', 'in', opts.states);
      const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(opts.limit).execute();
      return rows.map(toSession);
    });
  }

  /**
   * The narrow view of sessions an assigner pass orders and filters by (no JSON parsed), by state
   * or by id (order not guaranteed).
   */
  async passViews(by: { states: SessionState[] } | { ids: readonly string[] }): Promise<SessionPassView[]> {
    const ids = 'ids' in by ? by.ids : null;
    if (ids?.length === 0) return [];
    const out: SessionPassView[] = [];
    // In chunks of 500 ids (SQLite's bound parameter limit); one query by state.
    for (let i = 0; i < (ids ? ids.length : 1); i += 500) {
      let q = this.db
        .selectFrom('sessions')
        .select(['id', 'state', 'runner_id', 'pool_id', 'state_reason', 'priority', 'created_at']);
      q = ids
        ? q.where('id', 'in', ids.slice(i, i + 500))
        : q.where('state', 'in', (by as { states: SessionState[] }).states);
      for (const r of await q.execute())
        out.push({
          id: r.id,
          state: r.state as SessionState,
          runnerId: r.runner_id,
          poolId: r.pool_id,
          stateReason: r.state_reason,
          priority: Number(r.priority),
          createdAt: Number(r.created_at),
        });
    }
    return out;
  }

  /** Several sessions by id in one query (order not guaranteed). */
  async getMany(ids: readonly string[]): Promise<Session[]> {
    if (ids.length === 0) return [];
    const out: Session[] = [];
    for (let i = 0; i < ids.length; i += 500) {
      const rows = await this.db
        .selectFrom('sessions')
        .selectAll()
        .where('id', 'in', ids.slice(i, i + 500))
        .execute();
      for (const r of rows) out.push(toSession(r));
    }
    return out;
  }

  async listByState(states: SessionState[]): Promise<Session[]> {
    const rows = await this.db
      .selectFrom('sessions')
      .selectAll()
      .where('state', 'in', states)
      .orderBy('created_at')
      .execute();
    return rows.map(toSession);
  }

  /**
   * Moves a session to `to` if its current state is one of `from` (default: every state the table
   * allows into `to`). Returns false when the guard did not hold.
   */
  async transition(id: string, to: SessionState, patch: SessionPatch = {}, from?: SessionState[]): Promise<boolean> {
    this.changes?.session(id);
    try {
      return await casTransition(
        this.db,
        'sessions',
        SESSION_TRANSITIONS,
        id,
        to,
        { ...patch, state: to, updated_at: Date.now() },
        from,
      );
    } finally {
      this.changes?.session(id);
    }
  }

  /** How many sessions placed on a pool have not ended. */
  async countOpenInPool(poolId: string): Promise<number> {
    const r = await this.db
      .selectFrom('sessions')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('pool_id', '=', poolId)
      .where('state', 'not in', [...SESSION_TERMINAL])
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  /** Updates fields other than state. */
  async update(id: string, patch: SessionPatch): Promise<void> {
    this.changes?.session(id);
    try {
      const set = patchShape({ ...patch, updated_at: Date.now() });
      const n = set.values.length;
      await run(this.db, `sessions.update:${set.key}`, [...set.values, id], (p) =>
        this.db.updateTable('sessions').set(setFrom(set.columns, p)).where('id', '=', arg(p, n)),
      );
    } finally {
      this.changes?.session(id);
    }
  }

  /**
   * Sessions whose stored request carries env values: id, whether it ended, the request's text
   * (for sealing values at start, src/server/session-secrets.ts).
   */
  async withEnv(): Promise<{ id: string; ended: boolean; request: string }[]> {
    const rows = await this.db
      .selectFrom('sessions')
      .select(['id', 'state', 'request'])
      .where('request', 'like', '%"env":{"%')
      .execute();
    return rows.map((r) => ({
      id: r.id,
      ended: SESSION_TERMINAL.includes(r.state as SessionState),
      request: r.request,
    }));
  }

  /** Rewrites the stored request (its env sealed) without touching anything else. */
  async setRequest(id: string, request: string): Promise<void> {
    await this.db.updateTable('sessions').set({ request }).where('id', '=', id).execute();
  }

  async addEvent(sessionId: string, orgId: string, type: string, data: Record<string, unknown> = {}): Promise<void> {
    await run(
      this.db,
      'sessions.addEvent',
      [sessionId, orgId, type, JSON.stringify(this.redact ? this.redact(data) : data), Date.now()],
      ([session_id, org_id, type, data, ts]) =>
        this.db.insertInto('session_events').values({ session_id, org_id, type, data, ts }),
    );
  }

  async events(sessionId: string, after = 0, limit = 500): Promise<SessionEvent[]> {
    const rows = await this.db
      .selectFrom('session_events')
      .selectAll()
      .where('session_id', '=', sessionId)
      .where('id', '>', after)
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      id: Number(r.id),
      sessionId: r.session_id,
      type: r.type,
      data: JSON.parse(r.data),
      ts: Number(r.ts),
    }));
  }
}
