/**
 * @module Runners: rows, credentials, leases, and the atomic claim that binds a queued task to an
 * idle runner.
 */
import type { Kysely, Updateable } from 'kysely';
import { hashSecret } from '../../core/ids.js';
import { RUNNER_HOLDS_SANDBOX, RUNNER_LIVE, RUNNER_TRANSITIONS } from '../../core/states.js';
import type { Labels, RunnerState } from '../../core/types.js';
import type { ChangeLog } from '../changes.js';
import { arg, changed, patchShape, run, setFrom } from '../prepared.js';
import { json, type Runner, type Task, toRunner, toTask } from '../records.js';
import type { Database, RunnersTable } from '../schema.js';
import { inScope, type OrgScope } from '../scope.js';
import { casTransition } from '../transition.js';

/** A live runner as placement sees it. */
export type LiveRunner = Pick<
  Runner,
  'id' | 'poolId' | 'providerId' | 'sessionId' | 'state' | 'labels' | 'draining'
> & {
  /** The nested sandbox runtimes its agent reported in hello (null: it never said). */
  sandboxRuntimes: string[] | null;
};

export type RunnerPatch = Omit<Updateable<RunnersTable>, 'id' | 'state' | 'org_id'>;

export class RunnerRepo {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly changes?: ChangeLog,
  ) {}

  async insert(row: RunnersTable): Promise<Runner> {
    this.changes?.runner(row.id);
    try {
      await this.db.insertInto('runners').values(row).execute();
      return toRunner(row);
    } finally {
      this.changes?.runner(row.id);
    }
  }

  /** A runner by id, whatever its org (the system's own reads; the API uses `getIn`). */
  async get(id: string): Promise<Runner | null> {
    const r = await run(this.db, 'runners.get', [id], ([id]) =>
      this.db.selectFrom('runners').selectAll().where('id', '=', id),
    );
    const row = r.rows[0];
    return row ? toRunner(row) : null;
  }

  /** A runner of the org by id (another org's is null). */
  getIn(scope: OrgScope, id: string): Promise<Runner | null> {
    return inScope(scope, async () => {
      const r = await run(this.db, 'runners.get.org', [id, scope.orgId], ([id, org]) =>
        this.db.selectFrom('runners').selectAll().where('id', '=', id).where('org_id', '=', org),
      );
      const row = r.rows[0];
      return row ? toRunner(row) : null;
    });
  }

  async findByCredential(credential: string): Promise<Runner | null> {
    const r = await this.db
      .selectFrom('runners')
      .selectAll()
      .where('credential_hash', '=', hashSecret(credential))
      .executeTakeFirst();
    return r ? toRunner(r) : null;
  }

  /**
   * Credential rotation (migration 008). The runner presented the credential issued last but not
   * yet confirmed: that proves it saved it, so it becomes the current one and the old one stops
   * working (compare-and-set on the pending hash). Null when no runner has it pending.
   */
  async promoteNextCredential(credential: string): Promise<Runner | null> {
    const hash = hashSecret(credential);
    const r = await this.db
      .updateTable('runners')
      .set({ credential_hash: hash, next_credential_hash: null, updated_at: Date.now() })
      .where('next_credential_hash', '=', hash)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) return null;
    return this.findByCredential(credential);
  }

  /** Issues a rotated credential: pending until the runner confirms it saved it (the old one works meanwhile). */
  async offerNextCredential(id: string, credential: string): Promise<boolean> {
    const r = await this.db
      .updateTable('runners')
      .set({ next_credential_hash: hashSecret(credential) })
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** The runner confirmed it saved `credential` (pending for it): it becomes current, the old one stops working. */
  async confirmNextCredential(id: string, credential: string): Promise<boolean> {
    const hash = hashSecret(credential);
    const r = await this.db
      .updateTable('runners')
      .set({ credential_hash: hash, next_credential_hash: null, updated_at: Date.now() })
      .where('id', '=', id)
      .where('next_credential_hash', '=', hash)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** Runners of every org (the system's own reads; the API uses `listIn`). */
  async list(filter: { poolId?: string; sessionId?: string; states?: RunnerState[] } = {}): Promise<Runner[]> {
    return this.query(null, filter);
  }

  /** The org's runners. */
  listIn(
    scope: OrgScope,
    filter: { poolId?: string; sessionId?: string; states?: RunnerState[] } = {},
  ): Promise<Runner[]> {
    return inScope(scope, () => this.query(scope.orgId, filter));
  }

  private async query(
    orgId: string | null,
    filter: { poolId?: string; sessionId?: string; states?: RunnerState[] },
  ): Promise<Runner[]> {
    let q = this.db.selectFrom('runners').selectAll();
    if (orgId !== null) q = q.where('org_id', '=', orgId);
    if (filter.poolId) q = q.where('pool_id', '=', filter.poolId);
    if (filter.sessionId) q = q.where('session_id', '=', filter.sessionId);
    if (filter.states?.length) q = q.where('state', 'in', filter.states);
    return (await q.orderBy('created_at').execute()).map(toRunner);
  }

  /** Live runners of every org (or of one pool). */
  async live(filter: { poolId?: string } = {}): Promise<Runner[]> {
    return this.list({ ...filter, states: [...RUNNER_LIVE] });
  }

  /** The org's live runners. */
  liveIn(scope: OrgScope): Promise<Runner[]> {
    return this.listIn(scope, { states: [...RUNNER_LIVE] });
  }

  /**
   * Live runners with only what placement reads (the assigner takes this once per pass; the
   * full rows cost several times as much to read).
   */
  async liveViews(): Promise<LiveRunner[]> {
    const rows = await this.db
      .selectFrom('runners')
      .select(['id', 'pool_id', 'provider_id', 'session_id', 'state', 'labels', 'draining', 'sandbox_runtimes'])
      .where('state', 'in', [...RUNNER_LIVE])
      .orderBy('created_at')
      .execute();
    return rows.map(liveView);
  }

  /** How many runners of a pool may still hold a sandbox (what max_runners bounds): live or mid-suspend. */
  async countLive(poolId: string): Promise<number> {
    const r = await this.db
      .selectFrom('runners')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('pool_id', '=', poolId)
      .where('state', 'in', [...RUNNER_HOLDS_SANDBOX])
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  /** Live runners among `ids`, as `liveViews` gives them (order not guaranteed). */
  async liveViewsByIds(ids: readonly string[]): Promise<LiveRunner[]> {
    const out: LiveRunner[] = [];
    for (let i = 0; i < ids.length; i += 500) {
      const rows = await this.db
        .selectFrom('runners')
        .select(['id', 'pool_id', 'provider_id', 'session_id', 'state', 'labels', 'draining', 'sandbox_runtimes'])
        .where('state', 'in', [...RUNNER_LIVE])
        .where('id', 'in', ids.slice(i, i + 500))
        .execute();
      for (const r of rows) out.push(liveView(r));
    }
    return out;
  }

  /** Compare-and-set state change; false when the guard did not hold. */
  async transition(id: string, to: RunnerState, patch: RunnerPatch = {}, from?: RunnerState[]): Promise<boolean> {
    this.changes?.runner(id);
    try {
      const now = Date.now();
      return await casTransition(
        this.db,
        'runners',
        RUNNER_TRANSITIONS,
        id,
        to,
        {
          ...patch,
          state: to,
          updated_at: now,
          ...(to === 'idle' ? { idle_since: now } : {}),
        },
        from,
      );
    } finally {
      this.changes?.runner(id);
    }
  }

  async update(id: string, patch: RunnerPatch): Promise<void> {
    this.changes?.runner(id);
    try {
      const set = patchShape({ ...patch, updated_at: Date.now() });
      const n = set.values.length;
      await run(this.db, `runners.update:${set.key}`, [...set.values, id], (p) =>
        this.db.updateTable('runners').set(setFrom(set.columns, p)).where('id', '=', arg(p, n)),
      );
    } finally {
      this.changes?.runner(id);
    }
  }

  /**
   * Takes an idle, unbound runner out of service (compare-and-set to `draining`), so no claim or
   * session binding can land on it while it is being stopped. False when it was taken meanwhile.
   */
  async retireIdle(id: string, now = Date.now()): Promise<boolean> {
    this.changes?.runner(id);
    try {
      const r = await this.db
        .updateTable('runners')
        .set({ state: 'draining', draining: 1, updated_at: now })
        .where('id', '=', id)
        .where('state', '=', 'idle')
        .where('session_id', 'is', null)
        .executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    } finally {
      this.changes?.runner(id);
    }
  }

  /** Binds an idle, unbound runner to a session (compare-and-set); false when it was taken meanwhile. */
  async bindIdle(id: string, sessionId: string, now = Date.now()): Promise<boolean> {
    this.changes?.runner(id);
    try {
      const r = await this.db
        .updateTable('runners')
        .set({ session_id: sessionId, updated_at: now })
        .where('id', '=', id)
        .where('session_id', 'is', null)
        .where('state', '=', 'idle')
        .executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    } finally {
      this.changes?.runner(id);
    }
  }

  async renewLease(id: string, now: number, leaseMs: number): Promise<void> {
    await run(this.db, 'runners.renewLease', [now, now + leaseMs, id], ([now, expires, id]) =>
      this.db.updateTable('runners').set({ last_heartbeat_at: now, lease_expires_at: expires }).where('id', '=', id),
    );
  }

  /**
   * Takes a runner offline only if its lease is still expired (compare-and-set on state and lease):
   * a runner that reconnected and renewed its lease between the reaper's read and this write stays.
   */
  async expireLease(id: string, state: RunnerState, now: number): Promise<boolean> {
    this.changes?.runner(id);
    try {
      const r = await this.db
        .updateTable('runners')
        .set({ state: 'offline', updated_at: now })
        .where('id', '=', id)
        .where('state', '=', state)
        .where('lease_expires_at', '<', now)
        .executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    } finally {
      this.changes?.runner(id);
    }
  }

  /** Runners whose lease ran out before `now` (a provisioning runner's lease is its time to register). */
  async expiredLeases(now: number): Promise<Runner[]> {
    const rows = await this.db
      .selectFrom('runners')
      .selectAll()
      .where('state', 'in', ['provisioning', 'connecting', 'idle', 'busy', 'draining'])
      .where('lease_expires_at', '<', now)
      .execute();
    return rows.map(toRunner);
  }

  /**
   * Atomically binds task `taskId` (must be `queued`) to runner `runnerId` (must be `idle`):
   * both compare-and-set writes happen in one transaction or neither does. Returns the
   * assigned task, or null when either guard failed (someone else won).
   */
  async claim(runnerId: string, taskId: string, bindSession: string | null, now = Date.now()): Promise<Task | null> {
    const body = async (trx: Kysely<Database>): Promise<Task> => {
      const r = bindSession
        ? await run(trx, 'runners.claim.bind', [now, bindSession, runnerId], ([now, session, runner]) =>
            trx
              .updateTable('runners')
              .set({ state: 'busy', updated_at: now, idle_since: null, session_id: session })
              .where('id', '=', runner)
              .where('state', '=', 'idle')
              .where('draining', '=', 0)
              .where((eb) => eb.or([eb('session_id', 'is', null), eb('session_id', '=', session)])),
          )
        : await run(trx, 'runners.claim', [now, runnerId], ([now, runner]) =>
            trx
              .updateTable('runners')
              .set({ state: 'busy', updated_at: now, idle_since: null })
              .where('id', '=', runner)
              .where('state', '=', 'idle')
              .where('draining', '=', 0),
          );
      if (changed(r) !== 1) throw new ClaimLost();
      // Inside a transaction: noted before the connection is released (see ChangeLog).
      this.changes?.runner(runnerId);
      const t = await run(trx, 'tasks.claim', [runnerId, now, taskId], ([runner, now, task]) =>
        trx
          .updateTable('tasks')
          .set({ state: 'assigned', runner_id: runner, assigned_at: now })
          .where('id', '=', task)
          .where('state', '=', 'queued')
          .returningAll(),
      );
      this.changes?.task(taskId);
      const row = t.rows[0];
      if (!row) throw new ClaimLost();
      return toTask(row);
    };
    // Inside a caller's transaction a lost claim throws, so the caller's writes roll back with it
    // (see `isClaimLost`); otherwise the claim is its own transaction, so a lost task guard rolls
    // the runner write back.
    if (this.db.isTransaction) return body(this.db);
    return this.db
      .transaction()
      .execute(body)
      .then((task) => {
        // Noted again once committed: the notes above were taken before the commit (another
        // replica reading then would see the rows from before the claim).
        this.changes?.runner(runnerId);
        this.changes?.task(taskId);
        return task;
      })
      .catch((e: unknown) => {
        if (e instanceof ClaimLost) return null;
        throw e;
      });
  }
}

function liveView(r: {
  id: string;
  pool_id: string;
  provider_id: string;
  session_id: string | null;
  state: string;
  labels: string;
  draining: number;
  sandbox_runtimes?: string | null;
}): LiveRunner {
  return {
    id: r.id,
    poolId: r.pool_id,
    providerId: r.provider_id,
    sessionId: r.session_id,
    state: r.state as RunnerState,
    labels: json<Labels>(r.labels, {}),
    draining: Boolean(r.draining),
    sandboxRuntimes: r.sandbox_runtimes ? json<string[]>(r.sandbox_runtimes, []) : null,
  };
}

/** Rolls back a claim whose runner or task was taken in between. */
class ClaimLost extends Error {}

/** Whether a transaction failed because a claim inside it was lost (nothing was written). */
export function isClaimLost(e: unknown): boolean {
  return e instanceof ClaimLost;
}
