/**
 * @module Migration 004: what the agent itself reported about a task (`tasks.outcome`, JSON: its
 * status and message, permission denials, conversation id, tokens and cost), and a profile's task
 * timeout (`profiles.task_timeout_ms`), and the agent's tokens and reported cost on a cost event
 * (one per task whose agent reports them, `billing_model` 'agent-reported').
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('tasks').addColumn('outcome', 'text').execute();
  await db.schema.alterTable('profiles').addColumn('task_timeout_ms', 'bigint').execute();
  for (const [name, type] of [
    ['task_id', 'text'],
    ['input_tokens', 'bigint'],
    ['output_tokens', 'bigint'],
    ['cache_read_tokens', 'bigint'],
    ['cache_write_tokens', 'bigint'],
    ['cost_usd', 'double precision'],
    ['model', 'text'],
  ] as const)
    await db.schema.alterTable('cost_events').addColumn(name, type).execute();
}
