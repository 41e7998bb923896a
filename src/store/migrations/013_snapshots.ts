/**
 * @module Migration 013: workspace snapshots (`snapshots`). One row per snapshot of a session's
 * workspace in the content-addressable store (src/cas/): the manifest's address, the parent
 * snapshot it was taken after, what it held (files, bytes) and what it added to the store
 * (`bytes_new`). A row is written only once its manifest and every chunk are stored, so no row
 * ever points at missing data; `pinned` rows (checkpoints a user asked for) outlive retention.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('snapshots')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('session_id', 'text', (c) => c.notNull())
    .addColumn('parent_id', 'text')
    .addColumn('manifest_id', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('files', 'bigint', (c) => c.notNull())
    .addColumn('bytes', 'bigint', (c) => c.notNull())
    .addColumn('bytes_new', 'bigint', (c) => c.notNull())
    .addColumn('pinned', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('runner_id', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('snapshots_session_created')
    .on('snapshots')
    .columns(['session_id', 'created_at'])
    .execute();
  await db.schema.createIndex('snapshots_org_created').on('snapshots').columns(['org_id', 'created_at']).execute();
}
