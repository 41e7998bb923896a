/**
 * @module Migration 018: what several server replicas on one PostgreSQL share beyond the data
 * itself (docs/replicas.md). `loop_leases`: one row per singleton loop group, held by one replica
 * until its expiry (database clock), renewed by the holder. `change_feed`: the sessions, tasks,
 * runners and log lines each replica wrote, in commit batches, read by the other replicas after a
 * NOTIFY (or on their own timer, so a lost notify loses nothing). SQLite has one process only:
 * nothing is created there.
 */
import { type Kysely, sql } from 'kysely';
import type { MigrationContext } from './context.js';

export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  if (ctx.dialect !== 'postgres') return;
  await sql`create table loop_leases (
    name text primary key,
    holder text not null,
    expires_at timestamptz not null
  )`.execute(db);
  await sql`create table change_feed (
    seq bigserial primary key,
    replica text not null,
    body text not null,
    at timestamptz not null default now()
  )`.execute(db);
}
