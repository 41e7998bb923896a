/**
 * @module Install-wide settings (the `meta` table): the install's id, generated once per store
 * (migration 004) and kept, so every server replica of one install labels and reaps the same
 * objects, and a second install on the same engine never touches them.
 */
import type { Kysely } from 'kysely';
import { newId } from '../../core/ids.js';
import type { Database } from '../schema.js';

export class MetaRepo {
  constructor(private readonly db: Kysely<Database>) {}

  async get(key: string): Promise<string | null> {
    const row = await this.db.selectFrom('meta').select('value').where('key', '=', key).executeTakeFirst();
    return row?.value ?? null;
  }

  /**
   * The install's id (`ins_...`). Migration 004 writes it; should the row be missing, one is
   * written now (a concurrent replica's insert wins, and both read the same id back).
   */
  async installId(): Promise<string> {
    const id = await this.get('install_id');
    if (id) return id;
    await this.db
      .insertInto('meta')
      .values({ key: 'install_id', value: newId('ins') })
      .onConflict((oc) => oc.column('key').doNothing())
      .execute();
    const written = await this.get('install_id');
    if (!written) throw new Error('the install id could not be written to the store (meta table)');
    return written;
  }
}
