/**
 * @module Migration 021: what a stopped runner's sandbox was given, on its cost event
 * (`cost_events.resources`, JSON such as `{"vcpus":2,"memoryMb":4096}`, from the handle's
 * `resources` its provider recorded at provision), so a ledger row with a vendor's billing model
 * (`active-cpu`, `wall-clock`) carries the resources it is billed for; null when the provider
 * recorded none.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('cost_events').addColumn('resources', 'text').execute();
}
