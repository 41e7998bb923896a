/**
 * @module PostgreSQL for tests, found the way the Docker tests find the engine: the server in
 * `MARIONETTE_TEST_DATABASE_URL` when set; otherwise a local one with the usual defaults (user
 * `postgres`; the local socket, then 127.0.0.1:5432; password `PGPASSWORD`, else the one .ci/run
 * sets, else none). Every suite gets a database of its own (`freshDatabase`), created for it and
 * dropped afterwards, so a database a server used before, or another run's, is never touched.
 * When none is reachable the PostgreSQL cases are skipped with the reason in their name, and
 * `MARIONETTE_REQUIRE_POSTGRES=1` (set by CI) turns that into a failure.
 */
import { randomBytes } from 'node:crypto';
import { describe, it } from 'vitest';

type PgClient = import('pg').Client;

/** A reachable server's admin URL, or why there is none. */
export type PostgresProbe = { ok: true; url: string } | { ok: false; reason: string };

const required = process.env.MARIONETTE_REQUIRE_POSTGRES === '1';

async function connect(url: string): Promise<PgClient> {
  const pg = await import('pg');
  const c = new pg.default.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  c.on('error', () => {});
  await c.connect();
  return c;
}

/** The candidates tried when MARIONETTE_TEST_DATABASE_URL is not set (all on this machine). */
function localCandidates(): string[] {
  const user = encodeURIComponent(process.env.PGUSER ?? 'postgres');
  const passwords = [process.env.PGPASSWORD, 'marionette', ''].filter(
    (p, i, all): p is string => p !== undefined && all.indexOf(p) === i,
  );
  const out: string[] = [];
  for (const socketDir of ['/var/run/postgresql', '/tmp'])
    out.push(`postgres://${user}@/postgres?host=${encodeURIComponent(socketDir)}`);
  for (const pw of passwords)
    out.push(`postgres://${user}${pw ? `:${encodeURIComponent(pw)}` : ''}@127.0.0.1:5432/postgres`);
  return out;
}

function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

async function probe(): Promise<PostgresProbe> {
  const given = process.env.MARIONETTE_TEST_DATABASE_URL;
  const candidates = given ? [given] : localCandidates();
  const errors: string[] = [];
  for (const url of candidates) {
    try {
      const c = await connect(url);
      await c.end();
      return { ok: true, url };
    } catch (e: unknown) {
      errors.push(`${redact(url)}: ${(e as Error).message}`);
    }
  }
  return {
    ok: false,
    reason: given
      ? `PostgreSQL at MARIONETTE_TEST_DATABASE_URL unreachable (${errors[0]})`
      : `no PostgreSQL reachable (set MARIONETTE_TEST_DATABASE_URL; tried ${errors.join('; ')})`,
  };
}

/** Probed once per test file. */
export const postgres: PostgresProbe = await probe();

async function admin<T>(fn: (c: PgClient) => Promise<T>): Promise<T> {
  if (!postgres.ok) throw new Error(postgres.reason);
  const c = await connect(postgres.url);
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/**
 * Creates a database of its own (named after this run and process) on the probed server; `drop`
 * removes it, disconnecting whoever still uses it.
 */
export async function freshDatabase(): Promise<{ url: string; name: string; drop: () => Promise<void> }> {
  const run = (process.env.MARIONETTE_TEST_RUN ?? 'x').replace(/[^a-z0-9]/gi, '').slice(0, 12);
  const name = `mrn_t_${run}_${process.pid}_${randomBytes(4).toString('hex')}`.toLowerCase();
  await admin((c) => c.query(`CREATE DATABASE "${name}"`));
  const url = new URL(postgres.ok ? postgres.url : '');
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () => admin(async (c) => void (await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))),
  };
}

/**
 * `describe` for PostgreSQL cases: runs when a server is reachable; otherwise skips with the
 * reason in the suite's name (and on stderr), or fails under MARIONETTE_REQUIRE_POSTGRES=1.
 */
export function postgresDescribe(name: string, fn: () => void): void {
  if (postgres.ok) {
    describe(name, fn);
    return;
  }
  const reason = postgres.reason;
  if (required) {
    describe(name, () => {
      it('needs PostgreSQL (MARIONETTE_REQUIRE_POSTGRES=1)', () => {
        throw new Error(reason);
      });
    });
    return;
  }
  console.warn(`[postgres tests] skipping "${name}": ${reason}`);
  describe.skip(`${name} (skipped: ${reason})`, fn);
}

export interface TestDatabase {
  name: 'sqlite' | 'postgres';
  /** Creates a fresh database; returns the server's env for it and a cleanup. */
  open(): Promise<{ env: Record<string, string>; drop: () => Promise<void> }>;
}

/**
 * The databases to run a server test on: SQLite always, PostgreSQL when reachable. When it is
 * not, the reason is printed, and under MARIONETTE_REQUIRE_POSTGRES=1 the suite fails.
 */
export function testDatabases(suite: string): TestDatabase[] {
  const sqlite: TestDatabase = { name: 'sqlite', open: async () => ({ env: {}, drop: async () => {} }) };
  if (!postgres.ok) {
    if (required)
      return [
        sqlite,
        {
          name: 'postgres',
          open: async () => {
            throw new Error(`MARIONETTE_REQUIRE_POSTGRES=1: ${(postgres as { reason: string }).reason}`);
          },
        },
      ];
    console.warn(`[postgres tests] ${suite}: PostgreSQL case skipped: ${postgres.reason}`);
    return [sqlite];
  }
  const pg: TestDatabase = {
    name: 'postgres',
    open: async () => {
      const db = await freshDatabase();
      return { env: { MARIONETTE_DATABASE_URL: db.url }, drop: db.drop };
    },
  };
  return [sqlite, pg];
}
