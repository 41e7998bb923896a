/**
 * @module Migration 016: provider credentials (`provider_credentials`: one per org and provider,
 * the field values sealed together with the server's key, bound to org and provider; the names of
 * the fields it holds in plain text, for listing). See src/server/provider-credentials.ts. On
 * PostgreSQL it gets the org policy of migration 006.
 */
import { type Kysely, sql } from 'kysely';
import { RLS_POLICY } from './006_tenancy.js';
import type { MigrationContext } from './context.js';

/** The org-owned tables this migration adds (src/store/rls.ts turns their policy on with the others). */
export const PROVIDER_CREDENTIAL_TABLES = ['provider_credentials'] as const;

export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  await db.schema
    .createTable('provider_credentials')
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('provider_id', 'text', (c) => c.notNull())
    .addColumn('fields', 'text', (c) => c.notNull())
    .addColumn('secret', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('provider_credentials_pk', ['org_id', 'provider_id'])
    .execute();
  if (ctx.dialect !== 'postgres') return;
  const setting = sql`current_setting('marionette.org_id', true)`;
  for (const table of PROVIDER_CREDENTIAL_TABLES)
    await sql`create policy ${sql.id(RLS_POLICY)} on ${sql.table(table)}
      using (${setting} = '*' or org_id = ${setting})
      with check (${setting} = '*' or org_id = ${setting})`.execute(db);
}
