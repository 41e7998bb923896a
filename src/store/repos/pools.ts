/**
 * @module Pools, profiles and agent cards: the catalog the scheduler reads. Deleting a pool takes
 * its registration tokens and (non-live) runner rows with it, noting the runners in the ChangeLog.
 */
import type { Kysely, Updateable } from 'kysely';
import type { AgentCard, Pool, Profile } from '../../core/types.js';
import type { ChangeLog } from '../changes.js';
import { toAgentCard, toPool, toProfile } from '../records.js';
import type { Database, PoolsTable } from '../schema.js';
import { inScope, type OrgScope } from '../scope.js';

export type PoolPatch = Omit<Updateable<PoolsTable>, 'id' | 'org_id' | 'created_at'>;

export class PoolRepo {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly changes?: ChangeLog,
  ) {}

  async insert(row: PoolsTable): Promise<Pool> {
    await this.db.insertInto('pools').values(row).execute();
    return toPool(row);
  }

  async update(id: string, patch: PoolPatch): Promise<void> {
    await this.db
      .updateTable('pools')
      .set({ ...patch, updated_at: Date.now() })
      .where('id', '=', id)
      .execute();
  }

  async delete(id: string): Promise<void> {
    await this.db.deleteFrom('pools').where('id', '=', id).execute();
  }

  /**
   * Deletes a pool with its registration tokens and runner rows (the caller has checked it has no
   * live runner and no open session; run it in a transaction with that check). Every runner row
   * deleted is noted in the ChangeLog, so the assigner's incremental read drops it.
   */
  async deleteCascade(id: string): Promise<{ runners: string[] }> {
    const runners = (await this.db.selectFrom('runners').select('id').where('pool_id', '=', id).execute()).map(
      (r) => r.id,
    );
    for (const r of runners) this.changes?.runner(r);
    try {
      await this.db.deleteFrom('registration_tokens').where('pool_id', '=', id).execute();
      await this.db.deleteFrom('runners').where('pool_id', '=', id).execute();
      await this.db.deleteFrom('pools').where('id', '=', id).execute();
    } finally {
      for (const r of runners) this.changes?.runner(r);
    }
    return { runners };
  }

  /** A pool of the org by id or name. */
  get(scope: OrgScope, idOrName: string): Promise<Pool | null> {
    return inScope(scope, async () => {
      const r = await this.db
        .selectFrom('pools')
        .selectAll()
        .where('org_id', '=', scope.orgId)
        .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]))
        .executeTakeFirst();
      return r ? toPool(r) : null;
    });
  }

  async byId(id: string): Promise<Pool | null> {
    const r = await this.db.selectFrom('pools').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toPool(r) : null;
  }

  /** The org's pools. */
  list(scope: OrgScope): Promise<Pool[]> {
    return inScope(scope, async () =>
      (
        await this.db
          .selectFrom('pools')
          .selectAll()
          .where('org_id', '=', scope.orgId)
          .orderBy('priority', 'desc')
          .orderBy('name')
          .execute()
      ).map(toPool),
    );
  }

  /** Every org's pools (the assigner's and the autoscaler's view). */
  async listAll(): Promise<Pool[]> {
    return (await this.db.selectFrom('pools').selectAll().orderBy('priority', 'desc').orderBy('name').execute()).map(
      toPool,
    );
  }

  agentCards(scope: OrgScope): Promise<AgentCard[]> {
    return inScope(scope, async () => {
      const rows = await this.db
        .selectFrom('agent_cards')
        .select(['spec', 'built_in'])
        .where('org_id', '=', scope.orgId)
        .orderBy('name')
        .execute();
      return rows.map((r) => toAgentCard(r.spec, r.built_in));
    });
  }

  /** Every org's agent cards and profiles, with their org (the assigner's catalog). */
  async catalogAll(): Promise<{
    cards: { orgId: string; card: AgentCard }[];
    profiles: { orgId: string; profile: Profile & { builtIn: boolean } }[];
  }> {
    const cards = await this.db
      .selectFrom('agent_cards')
      .select(['org_id', 'spec', 'built_in'])
      .orderBy('name')
      .execute();
    const profiles = await this.db.selectFrom('profiles').selectAll().orderBy('name').execute();
    return {
      cards: cards.map((r) => ({ orgId: r.org_id, card: toAgentCard(r.spec, r.built_in) })),
      profiles: profiles.map((r) => ({ orgId: r.org_id, profile: toProfile(r) })),
    };
  }

  putAgentCard(scope: OrgScope, id: string, card: AgentCard): Promise<void> {
    return inScope(scope, () => this.putCard(scope.orgId, id, card));
  }

  private async putCard(orgId: string, id: string, card: AgentCard): Promise<void> {
    const { builtIn, ...spec } = card;
    await this.db
      .insertInto('agent_cards')
      .values({
        id,
        org_id: orgId,
        name: card.name,
        spec: JSON.stringify(spec),
        built_in: builtIn ? 1 : 0,
        created_at: Date.now(),
      })
      .onConflict((oc) =>
        oc.columns(['org_id', 'name']).doUpdateSet({ spec: JSON.stringify(spec), built_in: builtIn ? 1 : 0 }),
      )
      .execute();
  }

  /** Deletes a user-made agent card; false when there is none of that name (built-ins are refused by the caller). */
  deleteAgentCard(scope: OrgScope, name: string): Promise<boolean> {
    return inScope(scope, async () => {
      const r = await this.db
        .deleteFrom('agent_cards')
        .where('org_id', '=', scope.orgId)
        .where('name', '=', name)
        .where('built_in', '=', 0)
        .executeTakeFirst();
      return Number(r.numDeletedRows) === 1;
    });
  }

  profiles(scope: OrgScope): Promise<(Profile & { builtIn: boolean })[]> {
    return inScope(scope, async () => {
      const rows = await this.db
        .selectFrom('profiles')
        .selectAll()
        .where('org_id', '=', scope.orgId)
        .orderBy('name')
        .execute();
      return rows.map(toProfile);
    });
  }

  putProfile(scope: OrgScope, id: string, p: Profile, builtIn: boolean): Promise<void> {
    return inScope(scope, () => this.putProf(scope.orgId, id, p, builtIn));
  }

  private async putProf(orgId: string, id: string, p: Profile, builtIn: boolean): Promise<void> {
    const values = {
      description: p.description,
      selector: p.selector,
      resources: JSON.stringify(p.resources),
      provider_preference: JSON.stringify(p.providerPreference),
      task_timeout_ms: p.taskTimeoutMs ?? null,
      built_in: builtIn ? 1 : 0,
    };
    await this.db
      .insertInto('profiles')
      .values({ id, org_id: orgId, name: p.name, created_at: Date.now(), ...values })
      .onConflict((oc) => oc.columns(['org_id', 'name']).doUpdateSet(values))
      .execute();
  }

  deleteProfile(scope: OrgScope, name: string): Promise<boolean> {
    return inScope(scope, async () => {
      const r = await this.db
        .deleteFrom('profiles')
        .where('org_id', '=', scope.orgId)
        .where('name', '=', name)
        .executeTakeFirst();
      return Number(r.numDeletedRows) === 1;
    });
  }
}
