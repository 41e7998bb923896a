/**
 * @module PostgreSQL for end-to-end tests: the databases a server test runs on (SQLite always,
 * PostgreSQL when MARIONETTE_TEST_DATABASE_URL is set; MARIONETTE_REQUIRE_POSTGRES=1 makes its
 * absence a failure, as in CI), and a database of its own for each server a test starts, created
 * from that URL and dropped afterwards, so two runs never touch each other's data.
 */
import { randomBytes } from 'node:crypto';

const pgUrl = process.env.MARIONETTE_TEST_DATABASE_URL;
if (!pgUrl && process.env.MARIONETTE_REQUIRE_POSTGRES === '1')
  throw new Error('MARIONETTE_REQUIRE_POSTGRES=1 but MARIONETTE_TEST_DATABASE_URL is not set');

export interface TestDatabase {
  name: 'sqlite' | 'postgres';
  /** Creates a fresh database; returns the server's env for it and a cleanup. */
  open(): Promise<{ env: Record<string, string>; drop: () => Promise<void> }>;
}

async function admin<T>(fn: (c: import('pg').Client) => Promise<T>): Promise<T> {
  const pg = await import('pg');
  const c = new pg.default.Client({ connectionString: pgUrl });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** The databases to run a server test on; PostgreSQL is skipped (with a warning) when not configured. */
export function testDatabases(suite: string): TestDatabase[] {
  if (!pgUrl) console.warn(`${suite}: PostgreSQL skipped (set MARIONETTE_TEST_DATABASE_URL to run it)`);
  const sqlite: TestDatabase = { name: 'sqlite', open: async () => ({ env: {}, drop: async () => {} }) };
  if (!pgUrl) return [sqlite];
  const postgres: TestDatabase = {
    name: 'postgres',
    open: async () => {
      const db = `mrn_t_${process.pid}_${randomBytes(4).toString('hex')}`;
      await admin((c) => c.query(`CREATE DATABASE "${db}"`));
      const url = new URL(pgUrl);
      url.pathname = `/${db}`;
      return {
        env: { MARIONETTE_DATABASE_URL: url.toString() },
        drop: () => admin(async (c) => void (await c.query(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`))),
      };
    },
  };
  return [sqlite, postgres];
}
