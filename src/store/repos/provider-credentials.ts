/**
 * @module Provider credentials of an org (migration 016): one row per org and provider, its field
 * values stored as the caller gives them (the server seals them first:
 * src/server/provider-credentials.ts) and the names of its fields in plain text, for listing.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import { inScope, type OrgScope } from '../scope.js';

export interface StoredProviderCredential {
  providerId: string;
  /** The names of the fields it holds (never their values). */
  fields: string[];
  /** Sealed. */
  secret: string;
  createdAt: number;
  updatedAt: number;
}

/** A stored credential with its org (for the start-time check of every org's rows). */
export type OrgProviderCredential = StoredProviderCredential & { orgId: string };

type Row = Database['provider_credentials'];

const fromRow = (r: Row): OrgProviderCredential => ({
  orgId: r.org_id,
  providerId: r.provider_id,
  fields: JSON.parse(r.fields) as string[],
  secret: r.secret,
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
});

export class ProviderCredentialRepo {
  constructor(private readonly db: Kysely<Database>) {}

  /** The org's credentials, by provider id. */
  list(scope: OrgScope): Promise<StoredProviderCredential[]> {
    return inScope(scope, async () => {
      const rows = await this.db
        .selectFrom('provider_credentials')
        .selectAll()
        .where('org_id', '=', scope.orgId)
        .orderBy('provider_id')
        .execute();
      return rows.map((r) => {
        const { orgId: _o, ...c } = fromRow(r);
        return c;
      });
    });
  }

  /** The org's credential for `providerId`, or null. */
  get(scope: OrgScope, providerId: string): Promise<StoredProviderCredential | null> {
    return inScope(scope, async () => {
      const r = await this.db
        .selectFrom('provider_credentials')
        .selectAll()
        .where('org_id', '=', scope.orgId)
        .where('provider_id', '=', providerId)
        .executeTakeFirst();
      if (!r) return null;
      const { orgId: _o, ...c } = fromRow(r);
      return c;
    });
  }

  /** The ids of the providers the org has a stored credential for. */
  providerIds(scope: OrgScope): Promise<string[]> {
    return inScope(scope, async () => {
      const rows = await this.db
        .selectFrom('provider_credentials')
        .select('provider_id')
        .where('org_id', '=', scope.orgId)
        .execute();
      return rows.map((r) => r.provider_id);
    });
  }

  /** Sets (or replaces) the org's credential for `providerId`; a replacement keeps `createdAt`. */
  put(
    scope: OrgScope,
    c: { providerId: string; fields: string[]; secret: string },
    now = Date.now(),
  ): Promise<StoredProviderCredential> {
    return inScope(scope, async () => {
      const fields = JSON.stringify(c.fields);
      await this.db
        .insertInto('provider_credentials')
        .values({
          org_id: scope.orgId,
          provider_id: c.providerId,
          fields,
          secret: c.secret,
          created_at: now,
          updated_at: now,
        })
        .onConflict((oc) =>
          oc.columns(['org_id', 'provider_id']).doUpdateSet({ fields, secret: c.secret, updated_at: now }),
        )
        .execute();
      const stored = await this.get(scope, c.providerId);
      if (!stored) throw new Error(`provider credential ${c.providerId} vanished after its write`);
      return stored;
    });
  }

  /** Deletes the org's credential for `providerId`; false when it had none. */
  delete(scope: OrgScope, providerId: string): Promise<boolean> {
    return inScope(scope, async () => {
      const r = await this.db
        .deleteFrom('provider_credentials')
        .where('org_id', '=', scope.orgId)
        .where('provider_id', '=', providerId)
        .executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    });
  }

  /** Every org's credentials (install-wide: the start-time key check and re-sealing). */
  async all(): Promise<OrgProviderCredential[]> {
    const rows = await this.db.selectFrom('provider_credentials').selectAll().orderBy('org_id').execute();
    return rows.map(fromRow);
  }

  /** Replaces the sealed value of one row (re-sealing with the current key); false when it is gone. */
  async reseal(orgId: string, providerId: string, secret: string): Promise<boolean> {
    const r = await this.db
      .updateTable('provider_credentials')
      .set({ secret })
      .where('org_id', '=', orgId)
      .where('provider_id', '=', providerId)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }
}
