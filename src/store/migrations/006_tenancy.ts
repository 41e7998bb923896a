/**
 * @module Migration 006: tenancy. Org members (`members`: a user name or email with a role in an
 * org), a pool's optional project (`pools.project_id`), and on PostgreSQL the row-level security
 * policies keyed on the per-connection setting `marionette.org_id` (`*` = every org, the system's
 * own work). The policies are inert until row-level security is enabled on the tables, which the
 * server does at start when `database.row_level_security` is set (see src/store/rls.ts).
 */
import { type Kysely, sql } from 'kysely';
import type { MigrationContext } from './context.js';

/** Tables with an `org_id` column, each given the org policy (task_logs is reached only through its session). */
export const ORG_TABLES = [
  'projects',
  'members',
  'api_tokens',
  'agent_cards',
  'pools',
  'profiles',
  'runners',
  'registration_tokens',
  'sessions',
  'tasks',
  'session_events',
  'cost_events',
] as const;

/** The policy's name on every table it is on. */
export const RLS_POLICY = 'marionette_org';

export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  await db.schema
    .createTable('members')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('members_org_name', ['org_id', 'name'])
    .execute();
  await db.schema.alterTable('pools').addColumn('project_id', 'text').execute();
  await db.schema.createIndex('pools_org').on('pools').column('org_id').execute();
  if (ctx.dialect !== 'postgres') return;
  const setting = sql`current_setting('marionette.org_id', true)`;
  for (const table of ORG_TABLES)
    await sql`create policy ${sql.id(RLS_POLICY)} on ${sql.table(table)}
      using (${setting} = '*' or org_id = ${setting})
      with check (${setting} = '*' or org_id = ${setting})`.execute(db);
  await sql`create policy ${sql.id(RLS_POLICY)} on orgs
      using (${setting} = '*' or id = ${setting})
      with check (${setting} = '*' or id = ${setting})`.execute(db);
}
