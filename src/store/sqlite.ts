/**
 * @module Opens the embedded SQLite database (better-sqlite3) for Kysely: WAL with
 * `synchronous=NORMAL` (a committed transaction survives a crash of the process; only an OS crash
 * or power loss can take the last ones back) and a prepared-statement cache.
 *
 * Kysely's SqliteDialect calls `prepare(sql)` for every query it runs. Preparing is a parse and
 * plan inside SQLite, and the dispatch path runs the same few dozen statements over and over, so
 * the database handed to Kysely is a small structural wrapper that keeps prepared statements by
 * SQL text and hands them out again. Callers do not see it: queries are still written once, in
 * Kysely, for both dialects.
 */
import SQLite from 'better-sqlite3';
import type { SqliteDatabase, SqliteStatement } from 'kysely';

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
  const sqlite = new SQLite(file);
  sqlite.pragma('journal_mode = WAL');
  // In WAL mode NORMAL syncs at checkpoints, not at every commit: committed rows survive a
  // SIGKILL of the server (test/durability.e2e.test.ts), which is the promise we make.
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  return new CachingSqliteDatabase(sqlite);
}
