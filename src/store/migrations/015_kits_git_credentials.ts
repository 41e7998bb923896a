/**
 * @module Migration 015: user kits (`kits`: one row per org, id and version, the kit as JSON; see
 * src/core/kits.ts) and git credentials (`git_credentials`: one per org and host, the secret sealed
 * with the server's key, see src/server/git-credentials.ts). On PostgreSQL both get the org policy
 * of migration 006.
 */
import { type Kysely, sql } from 'kysely';
import { RLS_POLICY } from './006_tenancy.js';
import type { MigrationContext } from './context.js';

/** The org-owned tables this migration adds (src/store/rls.ts turns their policy on with the others). */
export const KIT_TABLES = ['kits', 'git_credentials'] as const;

export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  await db.schema
    .createTable('kits')
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('kit_id', 'text', (c) => c.notNull())
    .addColumn('version', 'text', (c) => c.notNull())
    .addColumn('spec', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('kits_pk', ['org_id', 'kit_id', 'version'])
    .execute();
  await db.schema
    .createTable('git_credentials')
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('host', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('username', 'text')
    .addColumn('secret', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('git_credentials_pk', ['org_id', 'host'])
    .execute();
  if (ctx.dialect !== 'postgres') return;
  const setting = sql`current_setting('marionette.org_id', true)`;
  for (const table of KIT_TABLES)
    await sql`create policy ${sql.id(RLS_POLICY)} on ${sql.table(table)}
      using (${setting} = '*' or org_id = ${setting})
      with check (${setting} = '*' or org_id = ${setting})`.execute(db);
}
