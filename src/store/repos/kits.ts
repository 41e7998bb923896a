/**
 * @module User kits and git credentials of an org (migration 015). Kits are stored as their JSON
 * spec; a git credential's secret is stored as the caller gives it (the server seals it first:
 * src/server/git-credentials.ts), never read back through the API.
 */
import type { Kysely } from 'kysely';
import type { Kit } from '../../core/kits.js';
import type { Database } from '../schema.js';
import { inScope, type OrgScope } from '../scope.js';

export interface StoredGitCredential {
  host: string;
  kind: 'token' | 'ssh-key';
  username: string | null;
  /** Sealed. */
  secret: string;
  createdAt: number;
}

export class KitRepo {
  constructor(private readonly db: Kysely<Database>) {}

  list(scope: OrgScope): Promise<Kit[]> {
    return inScope(scope, async () => {
      const rows = await this.db
        .selectFrom('kits')
        .select('spec')
        .where('org_id', '=', scope.orgId)
        .orderBy('kit_id')
        .orderBy('version')
        .execute();
      return rows.map((r) => ({ ...(JSON.parse(r.spec) as Omit<Kit, 'builtIn'>), builtIn: false }));
    });
  }

  /** Writes a kit; false when one with its id and version exists already. */
  create(scope: OrgScope, kit: Kit, now = Date.now()): Promise<boolean> {
    return inScope(scope, async () => {
      const { builtIn: _b, ...spec } = kit;
      const r = await this.db
        .insertInto('kits')
        .values({
          org_id: scope.orgId,
          kit_id: kit.id,
          version: kit.version,
          spec: JSON.stringify(spec),
          created_at: now,
        })
        .onConflict((oc) => oc.columns(['org_id', 'kit_id', 'version']).doNothing())
        .executeTakeFirst();
      return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
    });
  }

  /** Deletes a kit (every version when `version` is null); how many went. */
  delete(scope: OrgScope, id: string, version: string | null): Promise<number> {
    return inScope(scope, async () => {
      let q = this.db.deleteFrom('kits').where('org_id', '=', scope.orgId).where('kit_id', '=', id);
      if (version !== null) q = q.where('version', '=', version);
      const r = await q.executeTakeFirst();
      return Number(r.numDeletedRows);
    });
  }

  listGitCredentials(scope: OrgScope): Promise<StoredGitCredential[]> {
    return inScope(scope, async () => {
      const rows = await this.db
        .selectFrom('git_credentials')
        .selectAll()
        .where('org_id', '=', scope.orgId)
        .orderBy('host')
        .execute();
      return rows.map((r) => ({
        host: r.host,
        kind: r.kind as StoredGitCredential['kind'],
        username: r.username,
        secret: r.secret,
        createdAt: Number(r.created_at),
      }));
    });
  }

  async gitCredential(scope: OrgScope, host: string): Promise<StoredGitCredential | null> {
    return (await this.listGitCredentials(scope)).find((c) => c.host === host) ?? null;
  }

  /** Sets (or replaces) the org's credential for `host`. */
  putGitCredential(scope: OrgScope, c: Omit<StoredGitCredential, 'createdAt'>, now = Date.now()): Promise<void> {
    return inScope(scope, async () => {
      await this.db
        .insertInto('git_credentials')
        .values({
          org_id: scope.orgId,
          host: c.host,
          kind: c.kind,
          username: c.username,
          secret: c.secret,
          created_at: now,
        })
        .onConflict((oc) =>
          oc
            .columns(['org_id', 'host'])
            .doUpdateSet({ kind: c.kind, username: c.username, secret: c.secret, created_at: now }),
        )
        .execute();
    });
  }

  deleteGitCredential(scope: OrgScope, host: string): Promise<boolean> {
    return inScope(scope, async () => {
      const r = await this.db
        .deleteFrom('git_credentials')
        .where('org_id', '=', scope.orgId)
        .where('host', '=', host)
        .executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    });
  }
}
