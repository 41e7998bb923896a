/**
 * @module Helpers for the replica tests: several `marionette serve` processes on one fresh
 * PostgreSQL database (test/pg.support.ts), each with its own home and ports, and a direct client
 * to read the shared tables the replicas coordinate through (migration 018).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ServerHandle, startServer } from './harness.js';
import { freshDatabase } from './pg.support.js';

type PgClient = import('pg').Client;

export interface Replicas {
  url: string;
  servers: ServerHandle[];
  /** Starts one more replica on the database with `config`. */
  add(config: string): Promise<ServerHandle>;
  /** A query on the shared database. */
  query<R = Record<string, unknown>>(text: string, values?: unknown[]): Promise<R[]>;
  /** The pid in the singleton loop lease's holder, or null when nobody holds it now. */
  loopHolderPid(): Promise<number | null>;
  destroy(): Promise<void>;
}

/** What a replica wrote to its server.log so far. */
export function serverLog(srv: ServerHandle): string {
  try {
    return readFileSync(join(srv.home, 'server.log'), 'utf8');
  } catch {
    return '';
  }
}

export async function replicas(): Promise<Replicas> {
  const db = await freshDatabase();
  const pg = await import('pg');
  const client: PgClient = new pg.default.Client({ connectionString: db.url });
  client.on('error', () => {});
  await client.connect();
  const servers: ServerHandle[] = [];
  const query = async <R>(text: string, values?: unknown[]) => (await client.query(text, values)).rows as R[];
  return {
    url: db.url,
    servers,
    async add(config) {
      const s = await startServer({ config, env: { MARIONETTE_DATABASE_URL: db.url } });
      servers.push(s);
      return s;
    },
    query,
    async loopHolderPid() {
      const rows = await query<{ holder: string }>(
        'select holder from loop_leases where expires_at >= clock_timestamp()',
      ).catch(() => []);
      const pid = rows[0]?.holder.split(':').at(-2);
      return pid ? Number(pid) : null;
    },
    async destroy() {
      for (const s of servers) await s.destroy().catch(() => {});
      await client.end().catch(() => {});
      await db.drop();
    },
  };
}
