/**
 * @module Migration 002: indexes for lookups on the dispatch path that scanned their table: a
 * runner's credential (every gateway connect) and the active task of a session or runner by state.
 */
import type { Kysely } from 'kysely';
import type { MigrationContext } from './context.js';

export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await db.schema.createIndex('runners_credential').on('runners').column('credential_hash').execute();
  await db.schema.createIndex('tasks_session_state').on('tasks').columns(['session_id', 'state']).execute();
}
