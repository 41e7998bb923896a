/**
 * The SQLite group-commit driver: units of work that run together share one commit, each still
 * commits or rolls back as a whole, and none settles before its writes are durable (another
 * connection to the file sees them by then).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type GroupCommitDriver, GroupCommitSqliteDialect, openSqlite } from '../src/store/sqlite.js';

interface Db {
  items: { id: string; n: number };
}

describe('group commit (SQLite)', () => {
  let dir: string;
  let db: Kysely<Db>;
  let driver: GroupCommitDriver;
  let other: SQLite.Database;
  let closed = false;

  beforeEach(() => {
    closed = false;
    dir = mkdtempSync(join(tmpdir(), 'marionette-gc-'));
    const file = join(dir, 'test.db');
    const sqlite = openSqlite(file);
    sqlite.raw.exec('create table items (id text primary key, n integer not null check (n >= 0))');
    const dialect = new GroupCommitSqliteDialect(sqlite);
    driver = dialect.driver;
    driver.grouping = true;
    db = new Kysely<Db>({ dialect });
    // A second connection, as another process would have: it sees only committed rows.
    other = new SQLite(file, { readonly: true });
  });

  afterEach(async () => {
    other.close();
    if (!closed) await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const seen = () => (other.prepare('select id from items order by id').all() as { id: string }[]).map((r) => r.id);

  it('commits concurrent units once, and each is durable when it settles', async () => {
    const before = driver.commits;
    const units = ['a', 'b', 'c', 'd'].map((id) =>
      db.transaction().execute(async (tx) => {
        await tx.insertInto('items').values({ id, n: 1 }).execute();
        await tx.updateTable('items').set({ n: 2 }).where('id', '=', id).execute();
      }),
    );
    const single = db.insertInto('items').values({ id: 'e', n: 1 }).execute();
    await Promise.all([...units, single]);
    expect(driver.commits - before).toBe(1);
    expect(seen()).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('settles a write only after it is committed', async () => {
    let settled = false;
    const p = db
      .insertInto('items')
      .values({ id: 'x', n: 1 })
      .execute()
      .then(() => {
        settled = true;
        // At the moment the caller hears back, another connection sees the row.
        expect(seen()).toEqual(['x']);
      });
    // Not yet committed: the other connection sees nothing, and the caller has not heard back.
    await Promise.resolve();
    expect(seen()).toEqual([]);
    expect(settled).toBe(false);
    await p;
    expect(settled).toBe(true);
  });

  it('rolls back only the failing unit; the others in its batch commit', async () => {
    const ok = db.transaction().execute(async (tx) => {
      await tx.insertInto('items').values({ id: 'kept', n: 1 }).execute();
    });
    const bad = db.transaction().execute(async (tx) => {
      await tx.insertInto('items').values({ id: 'gone', n: 1 }).execute();
      throw new Error('unit failed');
    });
    // A statement that violates a constraint fails alone.
    const violates = db.insertInto('items').values({ id: 'neg', n: -1 }).execute();
    await expect(bad).rejects.toThrow('unit failed');
    await expect(violates).rejects.toThrow(/CHECK constraint/);
    await ok;
    expect(seen()).toEqual(['kept']);
  });

  it('a read made while a batch is open waits for that batch, so it never hands out an uncommitted row', async () => {
    const write = db.insertInto('items').values({ id: 'r', n: 1 }).execute();
    const read = db
      .selectFrom('items')
      .selectAll()
      .execute()
      .then((rows) => {
        expect(rows.map((r) => r.id)).toEqual(['r']);
        expect(seen()).toEqual(['r']);
        return rows;
      });
    await Promise.all([write, read]);
  });

  it('commits what is pending when the database is closed', async () => {
    const write = db.insertInto('items').values({ id: 'late', n: 1 }).execute();
    // Wait until the statement has run: its batch is open, not committed yet.
    for (let i = 0; i < 100 && !driver.pendingCommit; i++) await Promise.resolve();
    expect(driver.pendingCommit).toBe(true);
    expect(seen()).toEqual([]);
    await db.destroy();
    await write;
    expect(seen()).toEqual(['late']);
    closed = true;
  });
});
