/**
 * @module Migration 012: the nested sandbox runtimes a runner reported in its last `hello`
 * (`runners.sandbox_runtimes`, JSON list such as `["gvisor","bubblewrap"]`; null: it never said,
 * an older agent). Placement reads it for pools whose runners join (src/core/nested-sandbox.ts).
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('runners').addColumn('sandbox_runtimes', 'text').execute();
}
