/**
 * @module Migration 010: a task's own timeout (`tasks.timeout_ms`, from `mctl tasks create
 * --task-timeout` / the API's `taskTimeoutMs`), which wins over the session's, the profile's and
 * the agent card's; null for tasks that set none.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('tasks').addColumn('timeout_ms', 'bigint').execute();
}
