/**
 * @module Migration 008: credential rotation for runners. `runners.next_credential_hash` holds the
 * hash of a credential the server has issued (at hello) but the runner has not yet confirmed it
 * saved; the runner's current credential (`credential_hash`) keeps working until then, so a runner
 * that crashes between receiving and saving the new one is never locked out (see
 * src/server/runner-credentials.ts).
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('runners').addColumn('next_credential_hash', 'text').execute();
  await db.schema.createIndex('runners_next_credential').on('runners').column('next_credential_hash').execute();
}
