/**
 * @module Migration 003: a session's priority as its own column, so an assigner pass orders the
 * queue from a narrow read (id, state, reason, priority, times) without parsing every waiting
 * session's request and placement JSON. Existing rows take it from their request.
 */
import { type Kysely, sql } from 'kysely';
import type { MigrationContext } from './context.js';

export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  await db.schema
    .alterTable('sessions')
    .addColumn('priority', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  const fromRequest =
    ctx.dialect === 'postgres'
      ? sql`coalesce((request::json->>'priority')::integer, 0)`
      : sql`coalesce(json_extract(request, '$.priority'), 0)`;
  await sql`update sessions set priority = ${fromRequest}`.execute(db);
}
