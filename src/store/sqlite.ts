/**
 * @module Opens the embedded SQLite database (better-sqlite3) for Kysely: WAL with
 * `synchronous=NORMAL` (a committed transaction survives a crash of the process; only an OS crash
 * or power loss can take the last ones back), a prepared-statement cache, and the Kysely driver
 * that commits in groups (GroupCommitDriver, below).
 *
 * The driver calls `prepare(sql)` for every query it runs. Preparing is a parse and
 * plan inside SQLite, and the dispatch path runs the same few dozen statements over and over, so
 * the database handed to Kysely is a small structural wrapper that keeps prepared statements by
 * SQL text and hands them out again. Callers do not see it: queries are still written once, in
 * Kysely, for both dialects.
 */
import { chmodSync, closeSync, openSync, statSync } from 'node:fs';
import SQLite from 'better-sqlite3';
import {
  type CompiledQuery,
  type DatabaseConnection,
  type Driver,
  type QueryResult,
  SelectQueryNode,
  type SqliteDatabase,
  SqliteDialect,
  type SqliteStatement,
  type TransactionSettings,
} from 'kysely';
import { toError } from '../core/errors.js';

/** How many distinct statements are kept; `in (?, ?, …)` lists of many lengths are what fill it. */
const STATEMENT_CACHE_SIZE = 512;

/**
 * A `SqliteDatabase` that reuses prepared statements, keyed by SQL text. A statement that is still
 * being iterated (a streamed query) is busy; a second use of the same SQL meanwhile gets a fresh
 * statement instead of the cached one.
 */
export class CachingSqliteDatabase implements SqliteDatabase {
  private readonly statements = new Map<string, SQLite.Statement>();

  constructor(
    readonly raw: SQLite.Database,
    private readonly capacity = STATEMENT_CACHE_SIZE,
  ) {}

  prepare(sql: string): SqliteStatement {
    const hit = this.statements.get(sql);
    if (hit && !hit.busy) return hit;
    const stmt = this.raw.prepare(sql);
    if (!hit) {
      // Drop the oldest entry when full (Map iterates in insertion order).
      if (this.statements.size >= this.capacity) {
        const oldest = this.statements.keys().next().value;
        if (oldest !== undefined) this.statements.delete(oldest);
      }
      this.statements.set(sql, stmt);
    }
    return stmt;
  }

  /** Statements currently cached (for tests). */
  get cachedStatements(): number {
    return this.statements.size;
  }

  close(): void {
    this.statements.clear();
    this.raw.close();
  }
}

/** Opens (creating if needed) the database file with the pragmas the store relies on. */
export function openSqlite(file: string): CachingSqliteDatabase {
  // The database, its WAL and shared-memory files are the owner's alone (0600): SQLite creates the
  // WAL and -shm files with the database file's mode, so the file is made 0600 before it is opened,
  // and files an older version left 0644 are narrowed.
  closeSync(openSync(file, 'a', 0o600));
  for (const f of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`])
    try {
      if ((statSync(f).mode & 0o077) !== 0) chmodSync(f, 0o600);
    } catch {
      /* not there */
    }
  const sqlite = new SQLite(file);
  sqlite.pragma('journal_mode = WAL');
  // In WAL mode NORMAL syncs at checkpoints, not at every commit: committed rows survive a
  // SIGKILL of the server (test/durability.e2e.test.ts), which is the promise we make.
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  // Deleted and overwritten content is zeroed where that costs no extra I/O: a value rewritten
  // (a session env sealed at start from a plain row) leaves no old copy in the page once
  // checkpointed. Without it the old bytes stay in the page's free space.
  sqlite.pragma('secure_delete = FAST');
  // Statement journals (a statement inside a larger transaction, such as a unit of a group
  // commit, keeps one so it can be undone alone) and sorts live in memory instead of in a
  // temporary file each: they are small and short-lived, and a file costs open/write/unlink calls.
  sqlite.pragma('temp_store = MEMORY');
  return new CachingSqliteDatabase(sqlite);
}

// ---- group commit -------------------------------------------------------------------------------

/**
 * One outer transaction that several units of work (a `db.transaction()` each, or a single
 * statement outside one) write into; it commits once for all of them.
 */
interface Batch {
  /** Settles when the batch has committed (or failed); every unit that wrote or read in it awaits this. */
  readonly done: Promise<void>;
  resolve(): void;
  reject(e: Error): void;
}

function newBatch(): Batch {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A batch nobody waits on (all its units were reads that finished first) must not be reported unhandled.
  done.catch(() => {});
  return { done, resolve, reject };
}

/** The one connection, with the batch bookkeeping of the driver that owns it. */
class GroupCommitConnection implements DatabaseConnection {
  constructor(private readonly driver: GroupCommitDriver) {}

  executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    return Promise.resolve(this.driver.run<R>(compiled));
  }

  // biome-ignore lint/correctness/useYield: streaming is refused (nothing in the store streams).
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('the SQLite store does not stream queries');
  }
}

/**
 * Kysely driver for the embedded SQLite database that commits in groups.
 *
 * A commit costs far more than the statements before it: every page it changed is written to the
 * WAL (two `pwrite`s each), the WAL index is locked and unlocked, and every thousand pages a
 * checkpoint copies them into the database file. The dispatch path commits a few small
 * transactions per task, and concurrent tasks touch the same index pages, so committing each on its
 * own writes the same pages again and again.
 *
 * So units of work share an outer transaction: the first write opens it (`BEGIN`); each
 * `db.transaction()` is a savepoint inside it, so it still commits or rolls back as a whole
 * (a rolled-back unit takes only its own writes back); and the outer transaction commits once the
 * event loop has run what was ready (`setImmediate`), or as soon as the connection is released
 * after that. A unit's promise settles only after that commit: a caller never sees, returns or
 * sends on a write that is not durable yet, exactly as with one commit per unit. If the commit
 * fails, every unit in the batch fails with its error.
 *
 * One connection serves everything (as in Kysely's own SQLite driver, a mutex hands it out), so a
 * transaction holds it across its awaits, and the batch never commits in the middle of one.
 */
export class GroupCommitDriver implements Driver {
  private readonly connection = new GroupCommitConnection(this);
  /** Waiters for the connection, in order; `held` while someone has it. */
  private held = false;
  private readonly waiters: (() => void)[] = [];
  /** The open outer transaction, if any. */
  private batch: Batch | null = null;
  /** The batch the current holder of the connection wrote or read in (it waits for its commit). */
  private holderBatch: Batch | null = null;
  private flushScheduled = false;
  /** A flush came due while the connection was held: commit when it is released. */
  private flushDue = false;
  /** Off while migrations run (they manage their own transactions and pragmas). */
  grouping = false;
  /** Commits so far (for tests and benchmarks). */
  commits = 0;

  /** @param onCommitError told of every failed group commit (disk full, I/O), after its units were failed */
  constructor(
    readonly db: CachingSqliteDatabase,
    private readonly onCommitError: (e: Error) => void = () => {},
  ) {}

  /** Whether writes are waiting for their batch to commit. */
  get pendingCommit(): boolean {
    return this.batch !== null;
  }

  async init(): Promise<void> {}

  acquireConnection(): Promise<DatabaseConnection> {
    if (!this.held) {
      this.held = true;
      return Promise.resolve(this.connection);
    }
    return new Promise((resolve) => this.waiters.push(() => resolve(this.connection)));
  }

  async beginTransaction(_conn: DatabaseConnection, _settings: TransactionSettings): Promise<void> {
    if (!this.grouping) {
      this.db.raw.exec('begin');
      return;
    }
    this.open();
    this.db.raw.exec('savepoint unit');
  }

  async commitTransaction(): Promise<void> {
    if (!this.grouping || !this.batch) {
      this.db.raw.exec('commit');
      return;
    }
    this.db.raw.exec('release unit');
  }

  async rollbackTransaction(): Promise<void> {
    if (!this.grouping || !this.batch) {
      if (this.db.raw.inTransaction) this.db.raw.exec('rollback');
      return;
    }
    // The unit's writes go; the batch (other units' writes) stays.
    if (this.db.raw.inTransaction) this.db.raw.exec('rollback to unit; release unit');
  }

  async releaseConnection(): Promise<void> {
    const mine = this.holderBatch;
    this.holderBatch = null;
    try {
      if (this.flushDue) this.flush();
    } finally {
      // Whatever the commit did, the next waiter gets the connection: a failed commit never wedges it.
      const next = this.waiters.shift();
      if (next) next();
      else this.held = false;
    }
    if (mine) await mine.done;
  }

  async destroy(): Promise<void> {
    if (this.batch) this.flush();
    this.db.close();
  }

  /** Runs one statement on the connection (its holder calls this through the connection). */
  run<R>(compiled: CompiledQuery): QueryResult<R> {
    const { sql, parameters } = compiled;
    const stmt = this.db.prepare(sql);
    const write = !SelectQueryNode.is(compiled.query);
    if (this.grouping && (write || this.batch)) this.open();
    try {
      if (stmt.reader) return { rows: stmt.all(parameters as unknown[]) as R[] };
      const { changes, lastInsertRowid } = stmt.run(parameters as unknown[]);
      return {
        numAffectedRows: BigInt(changes),
        insertId: BigInt(lastInsertRowid),
        rows: [],
      };
    } catch (e: unknown) {
      // Some errors (disk full, I/O) roll the whole transaction back: the batch is gone.
      if (this.batch && !this.db.raw.inTransaction) this.fail(toError(e));
      throw e;
    }
  }

  /** Joins (or opens) the outer transaction for the current holder of the connection. */
  private open(): void {
    if (!this.batch) {
      // A failed commit whose rollback failed too left a transaction open: end it first.
      if (this.db.raw.inTransaction) this.abandon();
      this.db.raw.exec('begin');
      this.batch = newBatch();
    }
    this.holderBatch = this.batch;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        if (this.held) this.flushDue = true;
        else this.flush();
      });
    }
  }

  /** Commits the outer transaction (only ever while no unit is inside it). */
  private flush(): void {
    this.flushDue = false;
    const batch = this.batch;
    if (!batch) return;
    this.batch = null;
    try {
      this.db.raw.exec('commit');
      this.commits++;
      batch.resolve();
    } catch (e: unknown) {
      // SQLite asks for an explicit rollback after SQLITE_FULL / SQLITE_IOERR at commit.
      this.abandon();
      const err = toError(e);
      batch.reject(err);
      this.onCommitError(err);
    }
  }

  /** Rolls the open transaction back, if any; a rollback that fails is left for the next `open()`. */
  private abandon(): void {
    try {
      if (this.db.raw.inTransaction) this.db.raw.exec('rollback');
    } catch {
      /* retried by open() before the next batch begins */
    }
  }

  private fail(e: Error): void {
    const batch = this.batch;
    this.batch = null;
    batch?.reject(new Error(`the transaction was rolled back: ${e.message}`));
  }
}

/** Kysely's SQLite dialect with the group-commit driver (see GroupCommitDriver). */
export class GroupCommitSqliteDialect extends SqliteDialect {
  readonly driver: GroupCommitDriver;

  constructor(db: CachingSqliteDatabase, onCommitError?: (e: Error) => void) {
    super({ database: db });
    this.driver = new GroupCommitDriver(db, onCommitError);
  }

  override createDriver(): Driver {
    return this.driver;
  }
}
