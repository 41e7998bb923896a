/**
 * @module Migration 004: a `meta` table of install-wide settings, and the install's id in it.
 * Every object a provider creates (containers, volumes, networks, images) is labelled with this
 * id, and the reconciler reaps only objects carrying it, so two installs sharing one Docker Engine
 * (or cluster) never remove each other's objects. The id is generated here, once per store: on a
 * new install at its first start, on an existing one at its first start after the upgrade.
 */
import { type Kysely, sql } from 'kysely';
import { newId } from '../../core/ids.js';
import type { MigrationContext } from './context.js';

export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await db.schema
    .createTable('meta')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .execute();
  await sql`insert into meta (key, value) values ('install_id', ${newId('ins')})`.execute(db);
}
