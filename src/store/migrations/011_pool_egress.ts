/**
 * @module Migration 011: a pool's egress policy (`pools.egress`, JSON: `"none"`, `"open"` or
 * `{"allow": [...]}`; null: its provider's default). See src/core/egress.ts.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('pools').addColumn('egress', 'text').execute();
}
