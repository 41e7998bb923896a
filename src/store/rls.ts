/**
 * @module PostgreSQL row-level security, the second wall behind the repositories' org scope.
 * Migration 006 puts a policy on every org-owned table: a row is visible (and writable) only when
 * its `org_id` is the connection's `marionette.org_id` setting, or the setting is `*` (the
 * system's own work: the assigner, the gateway, the reconciler). With `database.row_level_security`
 * on, every connection the store reserves sets `marionette.org_id` first (`orgSettingHook`): the
 * org of the scoped repository call it runs for (see ./scope.ts), else `*`.
 *
 * `enforceRowLevelSecurity` turns the policies on (ENABLE and FORCE, so the tables' owner is bound
 * too) and refuses to go on where they could not hold: on SQLite, when the server connects as a
 * superuser or a role with BYPASSRLS (PostgreSQL never applies policies to those), or when it does
 * not own the tables. It then checks that the policies bind. Turned off, the policies are
 * disabled again, so a database that had them on keeps working.
 */
import { CompiledQuery, type DatabaseConnection, type Kysely, sql } from 'kysely';
import { ORG_TABLES, RLS_POLICY } from './migrations/006_tenancy.js';
import { KIT_TABLES } from './migrations/015_kits_git_credentials.js';
import { PROVIDER_CREDENTIAL_TABLES } from './migrations/016_provider_credentials.js';
import { SNAPSHOT_TABLES } from './migrations/017_snapshots_rls.js';
import type { Database, Dialect } from './schema.js';
import { currentOrgSetting } from './scope.js';

const TABLES = ['orgs', ...ORG_TABLES, ...KIT_TABLES, ...PROVIDER_CREDENTIAL_TABLES, ...SNAPSHOT_TABLES] as const;

/** Sets `marionette.org_id` on a connection as it is reserved (PostgresDialect `onReserveConnection`). */
export async function orgSettingHook(connection: DatabaseConnection): Promise<void> {
  await connection.executeQuery(
    CompiledQuery.raw(`select set_config('marionette.org_id', $1, false)`, [currentOrgSetting()]),
  );
}

/** Why row-level security cannot hold here (a config error the server refuses to start with). */
export class RowLevelSecurityRefused extends Error {
  constructor(reason: string) {
    super(`database.row_level_security is on, but ${reason}`);
    this.name = 'RowLevelSecurityRefused';
  }
}

/** Turns the org policies on (or off, `enabled` false) and checks that they bind. */
export async function enforceRowLevelSecurity(db: Kysely<Database>, dialect: Dialect, enabled: boolean): Promise<void> {
  if (dialect !== 'postgres') {
    if (enabled)
      throw new RowLevelSecurityRefused(
        'the store is SQLite, which has no row-level security (set database.url to a postgres:// URL)',
      );
    return;
  }
  const k = db as unknown as Kysely<unknown>;
  if (!enabled) {
    const on = await sql<{ n: number }>`select count(*)::int as n from pg_class c
      join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = current_schema() and c.relname in (${sql.join(TABLES)}) and c.relrowsecurity`.execute(k);
    if ((on.rows[0]?.n ?? 0) === 0) return;
    for (const t of TABLES) await sql`alter table ${sql.table(t)} disable row level security`.execute(k);
    return;
  }
  const role = await sql<{ user: string; super: boolean; bypass: boolean }>`select current_user as "user",
    rolsuper as super, rolbypassrls as bypass from pg_roles where rolname = current_user`.execute(k);
  const r = role.rows[0];
  if (!r) throw new RowLevelSecurityRefused('the connecting role could not be found in pg_roles');
  if (r.super || r.bypass)
    throw new RowLevelSecurityRefused(
      `the server connects as ${JSON.stringify(r.user)}, a ${r.super ? 'superuser' : 'role with BYPASSRLS'}, which PostgreSQL never binds by row-level security; connect as an ordinary role that owns the tables (see docs/tenancy.md)`,
    );
  for (const t of TABLES) {
    try {
      await sql`alter table ${sql.table(t)} enable row level security`.execute(k);
      await sql`alter table ${sql.table(t)} force row level security`.execute(k);
    } catch (e: unknown) {
      throw new RowLevelSecurityRefused(
        `it could not be turned on for table ${t} (${(e as Error).message}); the server's role must own the tables`,
      );
    }
  }
  const policies = await sql<{ n: number }>`select count(*)::int as n from pg_policies
    where schemaname = current_schema() and policyname = ${RLS_POLICY}`.execute(k);
  if ((policies.rows[0]?.n ?? 0) !== TABLES.length)
    throw new RowLevelSecurityRefused(
      `only ${policies.rows[0]?.n ?? 0} of the ${TABLES.length} org policies exist (migration 006)`,
    );
  // The policies bind: under an org that does not exist, not one org is visible.
  const seen = await db.transaction().execute(async (trx) => {
    await sql`select set_config('marionette.org_id', 'org_rls_probe', true)`.execute(trx);
    return (await sql<{ n: number }>`select count(*)::int as n from orgs`.execute(trx)).rows[0]?.n ?? 0;
  });
  if (seen !== 0) throw new RowLevelSecurityRefused('a probe under a made-up org still saw other orgs');
}
