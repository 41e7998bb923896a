/**
 * @module Opens the store (SQLite by default, PostgreSQL when a `postgres://` URL is given),
 * runs the numbered migrations, and groups the repositories by aggregate.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Kysely, type LogEvent, Migrator, PostgresDialect, sql } from 'kysely';
import { ChangeFeedPublisher } from './change-feed.js';
import { ChangeLog, TransactionChanges } from './changes.js';
import { migrationProvider } from './migrations/index.js';
import { ApiTokenRepo } from './repos/api-tokens.js';
import { AuditRepo } from './repos/audit.js';
import { AuthRepo } from './repos/auth.js';
import { CostRepo } from './repos/costs.js';
import { KitRepo } from './repos/kits.js';
import { LoopLeaseRepo } from './repos/leases.js';
import { LogRepo } from './repos/logs.js';
import { MetaRepo } from './repos/meta.js';
import { OrgRepo } from './repos/orgs.js';
import { PoolRepo } from './repos/pools.js';
import { ProviderCredentialRepo } from './repos/provider-credentials.js';
import { RunnerRepo } from './repos/runners.js';
import { SessionRepo } from './repos/sessions.js';
import { SnapshotRepo } from './repos/snapshots.js';
import { TaskRepo } from './repos/tasks.js';
import { enforceRowLevelSecurity, orgSettingHook } from './rls.js';
import type { Database, Dialect } from './schema.js';
import { type GroupCommitDriver, GroupCommitSqliteDialect, openSqlite } from './sqlite.js';

export type { Changes } from './changes.js';
export type { Dialect } from './schema.js';
export { inScope, type OrgScope, orgScope } from './scope.js';
export { ChangeLog };

/** The repositories, grouped by aggregate; the same shape over the database or a transaction. */
export interface Repos {
  auth: AuthRepo;
  orgs: OrgRepo;
  pools: PoolRepo;
  runners: RunnerRepo;
  sessions: SessionRepo;
  tasks: TaskRepo;
  logs: LogRepo;
  meta: MetaRepo;
}

export interface Store extends Repos {
  db: Kysely<Database>;
  /** The cost ledger (written and read outside transactions, so not in Repos). */
  costs: CostRepo;
  /** User kits and git credentials (migration 015). */
  kits: KitRepo;
  /** Provider credentials, sealed (migration 016). */
  providerCredentials: ProviderCredentialRepo;
  /** API tokens (create, list, revoke, rotate) and the audit log. */
  apiTokens: ApiTokenRepo;
  audit: AuditRepo;
  /** Workspace snapshots (rows naming manifests in the content-addressable store). */
  snapshots: SnapshotRepo;
  /** Singleton loop leases between replicas (PostgreSQL only; migration 018). */
  leases: LoopLeaseRepo;
  dialect: Dialect;
  /** Sessions, tasks and runners written since the assigner last looked (see ChangeLog). */
  changes: ChangeLog;
  /** PostgreSQL with a `replica` name: publishes this replica's changes to the others (./change-feed.ts). */
  feed: ChangeFeedPublisher | null;
  /**
   * Runs `fn` in one transaction: everything it writes through the repos it is given commits
   * together or not at all, and the promise settles once that is durable. On SQLite several
   * units of work share one commit (see GroupCommitDriver).
   */
  transaction<T>(fn: (tx: Repos) => Promise<T>): Promise<T>;
  /** Commits so far (SQLite: group commits; PostgreSQL: not counted, 0). For benchmarks. */
  commitCount(): number;
  /** Tells `fn` how long each `transaction` took from its start to durable, in seconds (metrics); returns the unsubscribe. */
  observeCommits(fn: (seconds: number) => void): () => void;
  /** A harmless real write (rewrites one row as it is): does the store accept writes now? */
  probeWrite(): Promise<void>;
  close(): Promise<void>;
}

type RedactData = StoreOptions['redact'];

function repos(db: Kysely<Database>, changes: ChangeLog, dialect: Dialect, redact?: RedactData): Repos {
  return {
    auth: new AuthRepo(db),
    orgs: new OrgRepo(db),
    pools: new PoolRepo(db, changes),
    runners: new RunnerRepo(db, changes),
    sessions: new SessionRepo(db, changes, redact),
    tasks: new TaskRepo(db, changes),
    logs: new LogRepo(db, dialect),
    meta: new MetaRepo(db),
  };
}

export interface StoreOptions {
  /** Directory for the SQLite file (`marionette.db`). */
  home: string;
  /** `postgres://...` selects PostgreSQL. */
  databaseUrl?: string | null;
  /** PostgreSQL schema to use (tests give each run its own). */
  pgSchema?: string;
  /**
   * PostgreSQL row-level security as a second wall (config `database.row_level_security`): every
   * connection is tagged with its org, the policies are enforced, and opening fails where they
   * could not hold (see ./rls.ts). Default false.
   */
  rowLevelSecurity?: boolean;
  /** Told of every failed statement or commit (the caller still gets the error): for storage health. */
  onError?: (e: Error) => void;
  /** Applied to session event data before it is written (redaction of known secret values). */
  redact?: (data: Record<string, unknown>) => Record<string, unknown>;
  /**
   * PostgreSQL: this server replica's name; its committed changes are then published to the other
   * replicas (./change-feed.ts, docs/replicas.md). Absent: nothing is published.
   */
  replica?: string;
}

async function makeKysely(
  opts: StoreOptions,
): Promise<{ db: Kysely<Database>; dialect: Dialect; grouped?: GroupCommitDriver }> {
  const onError = opts.onError;
  const log = onError
    ? (event: LogEvent) => {
        if (event.level === 'error') onError(event.error as Error);
      }
    : undefined;
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
    return {
      db: new Kysely<Database>({
        dialect: new PostgresDialect({
          pool,
          ...(opts.rowLevelSecurity ? { onReserveConnection: orgSettingHook } : {}),
        }),
        ...(log ? { log } : {}),
      }),
      dialect: 'postgres',
    };
  }
  if (opts.databaseUrl)
    throw new Error(`database url ${JSON.stringify(opts.databaseUrl)}: only postgres:// URLs are supported`);
  mkdirSync(opts.home, { recursive: true });
  const dialect = new GroupCommitSqliteDialect(openSqlite(join(opts.home, 'marionette.db')), onError);
  return { db: new Kysely<Database>({ dialect, ...(log ? { log } : {}) }), dialect: 'sqlite', grouped: dialect.driver };
}

/** Opens and migrates the store. */
export async function openStore(opts: StoreOptions): Promise<Store> {
  const { db, dialect, grouped } = await makeKysely(opts);
  // The migration tables live in the store's own schema: Kysely looks for them by schema, and would
  // otherwise take another schema's tables in the same database for this one's.
  const migrator = new Migrator({
    db,
    provider: migrationProvider({ dialect }),
    ...(dialect === 'postgres' && opts.pgSchema ? { migrationTableSchema: opts.pgSchema } : {}),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    await db.destroy();
    throw new Error(
      `database migration ${failed?.migrationName ?? ''} failed: ${(error as Error).message ?? String(error)}`,
    );
  }
  try {
    await enforceRowLevelSecurity(db, dialect, opts.rowLevelSecurity ?? false);
  } catch (e: unknown) {
    await db.destroy();
    throw e;
  }
  // Migrations ran one transaction each; from here on, SQLite writes commit in groups.
  if (grouped) grouped.grouping = true;
  const feed =
    dialect === 'postgres' && opts.replica ? new ChangeFeedPublisher(db, opts.replica, (e) => opts.onError?.(e)) : null;
  const changes = new ChangeLog(feed);
  const commitObservers = new Set<(seconds: number) => void>();
  const timed = async <T>(run: () => Promise<T>): Promise<T> => {
    if (commitObservers.size === 0) return run();
    const t0 = performance.now();
    const out = await run();
    const seconds = (performance.now() - t0) / 1000;
    for (const fn of commitObservers) fn(seconds);
    return out;
  };
  return {
    db,
    dialect,
    changes,
    costs: new CostRepo(db),
    kits: new KitRepo(db),
    providerCredentials: new ProviderCredentialRepo(db),
    apiTokens: new ApiTokenRepo(db),
    audit: new AuditRepo(db),
    snapshots: new SnapshotRepo(db),
    leases: new LoopLeaseRepo(db),
    ...repos(db, changes, dialect, opts.redact),
    feed,
    transaction: feed
      ? async (fn) => {
          // Published only after commit, so another replica never reads a row from before the write.
          const txChanges = new TransactionChanges(changes);
          const out = await timed(() =>
            db.transaction().execute((trx) => fn(repos(trx, txChanges, dialect, opts.redact))),
          );
          txChanges.committed();
          return out;
        }
      : (fn) => timed(() => db.transaction().execute((trx) => fn(repos(trx, changes, dialect, opts.redact)))),
    commitCount: () => grouped?.commits ?? 0,
    observeCommits: (fn) => {
      commitObservers.add(fn);
      return () => commitObservers.delete(fn);
    },
    probeWrite: async () => {
      await sql`update orgs set created_at = created_at where id = (select min(id) from orgs)`.execute(db);
    },
    close: async () => {
      await feed?.settled();
      await db.destroy();
    },
  };
}
