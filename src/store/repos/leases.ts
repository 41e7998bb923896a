/**
 * @module Loop leases (migration 018, PostgreSQL only): which replica runs a group of singleton
 * loops. A lease is a row with its holder and an expiry on the database's clock, so no replica's
 * clock matters and a holder that died in any way (`kill -9`, a frozen machine, a cut network) loses
 * it once the expiry passes.
 */
import { type Kysely, sql } from 'kysely';
import type { Database } from '../schema.js';

export class LoopLeaseRepo {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Takes the lease `name` for `holder` for `ttlMs` from now (database clock), or renews it when
   * `holder` has it; true when `holder` holds it afterwards. One statement: two replicas racing for
   * a free lease cannot both win.
   */
  async acquire(name: string, holder: string, ttlMs: number): Promise<boolean> {
    const ttl = `${Math.max(1, Math.round(ttlMs))} milliseconds`;
    const r = await sql<{ holder: string }>`
      insert into loop_leases (name, holder, expires_at)
      values (${name}, ${holder}, clock_timestamp() + ${ttl}::interval)
      on conflict (name) do update set holder = excluded.holder, expires_at = excluded.expires_at
      where loop_leases.holder = excluded.holder or loop_leases.expires_at < clock_timestamp()
      returning holder`.execute(this.db);
    return r.rows.length === 1;
  }

  /** Gives the lease up at once (a clean shutdown), so another replica need not wait for its expiry. */
  async release(name: string, holder: string): Promise<void> {
    await sql`delete from loop_leases where name = ${name} and holder = ${holder}`.execute(this.db);
  }

  /** Who holds `name` now (null: nobody, or the lease lapsed). */
  async holder(name: string): Promise<string | null> {
    const r = await sql<{ holder: string }>`
      select holder from loop_leases where name = ${name} and expires_at >= clock_timestamp()`.execute(this.db);
    return r.rows[0]?.holder ?? null;
  }
}
