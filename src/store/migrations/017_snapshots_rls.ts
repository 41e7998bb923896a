/**
 * @module Migration 017: the workspace snapshots table (migration 013) gets the org policy of
 * migration 006 on PostgreSQL, so with `database.row_level_security` on a statement run for one
 * org neither sees nor writes another org's snapshots (src/store/rls.ts turns it on with the
 * others). Nothing changes on SQLite.
 */
import { type Kysely, sql } from 'kysely';
import { RLS_POLICY } from './006_tenancy.js';
import type { MigrationContext } from './context.js';

/** The org-owned tables this migration puts under the org policy. */
export const SNAPSHOT_TABLES = ['snapshots'] as const;

export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  if (ctx.dialect !== 'postgres') return;
  const setting = sql`current_setting('marionette.org_id', true)`;
  for (const table of SNAPSHOT_TABLES)
    await sql`create policy ${sql.id(RLS_POLICY)} on ${sql.table(table)}
      using (${setting} = '*' or org_id = ${setting})
      with check (${setting} = '*' or org_id = ${setting})`.execute(db);
}
