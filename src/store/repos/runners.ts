/**
 * @module Runners: rows, credentials, leases, and the atomic claim that binds a queued task to an
 * idle runner.
 */
import type { Kysely, Updateable } from 'kysely';
import { hashSecret } from '../../core/ids.js';
import { fromStates, RUNNER_LIVE, RUNNER_TRANSITIONS } from '../../core/states.js';
import type { Labels, RunnerState } from '../../core/types.js';
import type { ChangeLog } from '../index.js';
import { json, type Runner, type Task, toRunner, toTask } from '../records.js';
import type { Database, RunnersTable } from '../schema.js';

/** A live runner as placement sees it. */
export type LiveRunner = Pick<Runner, 'id' | 'poolId' | 'providerId' | 'sessionId' | 'state' | 'labels' | 'draining'>;

export type RunnerPatch = Omit<Updateable<RunnersTable>, 'id' | 'state' | 'org_id'>;

export class RunnerRepo {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly changes?: ChangeLog,
  ) {}

  async insert(row: RunnersTable): Promise<Runner> {
    await this.db.insertInto('runners').values(row).execute();
    return toRunner(row);
  }

  async get(id: string, orgId?: string): Promise<Runner | null> {
    let q = this.db.selectFrom('runners').selectAll().where('id', '=', id);
    if (orgId) q = q.where('org_id', '=', orgId);
    const r = await q.executeTakeFirst();
    return r ? toRunner(r) : null;
  }

  async findByCredential(credential: string): Promise<Runner | null> {
    const r = await this.db
      .selectFrom('runners')
      .selectAll()
      .where('credential_hash', '=', hashSecret(credential))
      .executeTakeFirst();
    return r ? toRunner(r) : null;
  }

  async list(
    filter: { orgId?: string; poolId?: string; sessionId?: string; states?: RunnerState[] } = {},
  ): Promise<Runner[]> {
    let q = this.db.selectFrom('runners').selectAll();
    if (filter.orgId) q = q.where('org_id', '=', filter.orgId);
    if (filter.poolId) q = q.where('pool_id', '=', filter.poolId);
    if (filter.sessionId) q = q.where('session_id', '=', filter.sessionId);
    if (filter.states?.length) q = q.where('state', 'in', filter.states);
    return (await q.orderBy('created_at').execute()).map(toRunner);
  }

  async live(filter: { poolId?: string; orgId?: string } = {}): Promise<Runner[]> {
    return this.list({ ...filter, states: [...RUNNER_LIVE] });
  }

  /**
   * Live runners with only what placement reads (the assigner takes this once per pass; the
   * full rows cost several times as much to read).
   */
  async liveViews(orgId: string): Promise<LiveRunner[]> {
    const rows = await this.db
      .selectFrom('runners')
      .select(['id', 'pool_id', 'provider_id', 'session_id', 'state', 'labels', 'draining'])
      .where('org_id', '=', orgId)
      .where('state', 'in', [...RUNNER_LIVE])
      .orderBy('created_at')
      .execute();
    return rows.map((r) => ({
      id: r.id,
      poolId: r.pool_id,
      providerId: r.provider_id,
      sessionId: r.session_id,
      state: r.state as RunnerState,
      labels: json<Labels>(r.labels, {}),
      draining: Boolean(r.draining),
    }));
  }

  /** Compare-and-set state change; false when the guard did not hold. */
  async transition(id: string, to: RunnerState, patch: RunnerPatch = {}, from?: RunnerState[]): Promise<boolean> {
    const allowed = from ?? fromStates(RUNNER_TRANSITIONS, to);
    if (allowed.length === 0) return false;
    const now = Date.now();
    const r = await this.db
      .updateTable('runners')
      .set({ ...patch, state: to, updated_at: now, ...(to === 'idle' ? { idle_since: now } : {}) })
      .where('id', '=', id)
      .where('state', 'in', allowed)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async update(id: string, patch: RunnerPatch): Promise<void> {
    await this.db
      .updateTable('runners')
      .set({ ...patch, updated_at: Date.now() })
      .where('id', '=', id)
      .execute();
  }

  /**
   * Takes an idle, unbound runner out of service (compare-and-set to `draining`), so no claim or
   * session binding can land on it while it is being stopped. False when it was taken meanwhile.
   */
  async retireIdle(id: string, now = Date.now()): Promise<boolean> {
    const r = await this.db
      .updateTable('runners')
      .set({ state: 'draining', draining: 1, updated_at: now })
      .where('id', '=', id)
      .where('state', '=', 'idle')
      .where('session_id', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async renewLease(id: string, now: number, leaseMs: number): Promise<void> {
    await this.db
      .updateTable('runners')
      .set({ last_heartbeat_at: now, lease_expires_at: now + leaseMs })
      .where('id', '=', id)
      .execute();
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
      const r = await trx
        .updateTable('runners')
        .set({
          state: 'busy',
          updated_at: now,
          idle_since: null,
          ...(bindSession ? { session_id: bindSession } : {}),
        })
        .where('id', '=', runnerId)
        .where('state', '=', 'idle')
        .where('draining', '=', 0)
        .where((eb) =>
          bindSession ? eb.or([eb('session_id', 'is', null), eb('session_id', '=', bindSession)]) : eb.lit(true),
        )
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) throw new ClaimLost();
      this.changes?.task(taskId);
      const row = await trx
        .updateTable('tasks')
        .set({ state: 'assigned', runner_id: runnerId, assigned_at: now })
        .where('id', '=', taskId)
        .where('state', '=', 'queued')
        .returningAll()
        .executeTakeFirst();
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
      .catch((e: unknown) => {
        if (e instanceof ClaimLost) return null;
        throw e;
      });
  }
}

/** Rolls back a claim whose runner or task was taken in between. */
class ClaimLost extends Error {}

/** Whether a transaction failed because a claim inside it was lost (nothing was written). */
export function isClaimLost(e: unknown): boolean {
  return e instanceof ClaimLost;
}
