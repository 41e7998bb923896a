/**
 * @module Opens the store (SQLite by default, PostgreSQL when a `postgres://` URL is given),
 * runs the numbered migrations, and groups the repositories by aggregate.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import { migrationProvider } from './migrations/index.js';
import { AuthRepo } from './repos/auth.js';
import { LogRepo } from './repos/logs.js';
import { PoolRepo } from './repos/pools.js';
import { RunnerRepo } from './repos/runners.js';
import { SessionRepo } from './repos/sessions.js';
import { TaskRepo } from './repos/tasks.js';
import type { Database } from './schema.js';
import { openSqlite } from './sqlite.js';

export type Dialect = 'sqlite' | 'postgres';

/** The repositories, grouped by aggregate; the same shape over the database or a transaction. */
export interface Repos {
  auth: AuthRepo;
  pools: PoolRepo;
  runners: RunnerRepo;
  sessions: SessionRepo;
  tasks: TaskRepo;
  logs: LogRepo;
}

export interface Store extends Repos {
  db: Kysely<Database>;
  dialect: Dialect;
  /**
   * Runs `fn` in one transaction: everything it writes through the repos it is given commits
   * together or not at all. On SQLite that is also one commit instead of one per statement.
   */
  transaction<T>(fn: (tx: Repos) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

function repos(db: Kysely<Database>): Repos {
  return {
    auth: new AuthRepo(db),
    pools: new PoolRepo(db),
    runners: new RunnerRepo(db),
    sessions: new SessionRepo(db),
    tasks: new TaskRepo(db),
    logs: new LogRepo(db),
  };
}

export interface StoreOptions {
  /** Directory for the SQLite file (`marionette.db`). */
  home: string;
  /** `postgres://...` selects PostgreSQL. */
  databaseUrl?: string | null;
  /** PostgreSQL schema to use (tests give each run its own). */
  pgSchema?: string;
}

async function makeKysely(opts: StoreOptions): Promise<{ db: Kysely<Database>; dialect: Dialect }> {
  if (opts.databaseUrl && /^postgres(ql)?:\/\//.test(opts.databaseUrl)) {
    const pg = await import('pg');
    // int8 columns (timestamps, log ids) come back as JS numbers; all fit in 2^53.
    pg.default.types.setTypeParser(20, (v: string) => Number(v));
    const schema = opts.pgSchema;
    const pool = new pg.default.Pool({
      connectionString: opts.databaseUrl,
      max: 10,
      ...(schema ? { options: `-c search_path=${schema}` } : {}),
    });
    if (schema) {
      const c = await pool.connect();
      try {
        await c.query(`CREATE SCHEMA IF NOT EXISTS "${schema.replace(/"/g, '')}"`);
      } finally {
        c.release();
      }
    }
    return { db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), dialect: 'postgres' };
  }
  if (opts.databaseUrl)
    throw new Error(`database url ${JSON.stringify(opts.databaseUrl)}: only postgres:// URLs are supported`);
  mkdirSync(opts.home, { recursive: true });
  const sqlite = openSqlite(join(opts.home, 'marionette.db'));
  return { db: new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) }), dialect: 'sqlite' };
}

/** Opens and migrates the store. */
export async function openStore(opts: StoreOptions): Promise<Store> {
  const { db, dialect } = await makeKysely(opts);
  const migrator = new Migrator({ db, provider: migrationProvider({ dialect }) });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    await db.destroy();
    throw new Error(
      `database migration ${failed?.migrationName ?? ''} failed: ${(error as Error).message ?? String(error)}`,
    );
  }
  return {
    db,
    dialect,
    ...repos(db),
    transaction: (fn) => db.transaction().execute((trx) => fn(repos(trx))),
    close: () => db.destroy(),
  };
}
