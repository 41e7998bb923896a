/**
 * The SQLite group-commit driver on a full disk (a small tmpfs the test mounts; root only,
 * skipped with the reason printed elsewhere; CI runs as root): a commit that fails with
 * SQLITE_FULL fails every unit of its batch with that error and reports it, the connection is
 * handed on (never left held: later units run and settle), and once space returns writes commit
 * again, with every row that was committed before still there.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GroupCommitSqliteDialect, openSqlite } from '../src/store/sqlite.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.log('[sqlite.diskfull] skipped: mounting a tmpfs needs root (CI runs as root)');

interface Db {
  items: { id: string; body: string };
}

let mnt = '';
let mounted = false;
beforeAll(() => {
  if (!isRoot) return;
  mnt = mkdtempSync(join(tmpdir(), 'marionette-sqlitefull-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', mnt]);
  mounted = true;
});
afterAll(() => {
  if (mounted) execFileSync('umount', ['-l', mnt]);
  if (mnt) rmSync(mnt, { recursive: true, force: true });
});

/** Settles within `ms` or says it did not (a wedged driver never settles). */
async function within<T>(
  p: Promise<T>,
  ms = 10_000,
): Promise<{ settled: true; value?: T; error?: Error } | { settled: false }> {
  return Promise.race([
    p.then(
      (value) => ({ settled: true as const, value }),
      (error: Error) => ({ settled: true as const, error }),
    ),
    sleep(ms).then(() => ({ settled: false as const })),
  ]);
}

describe.skipIf(!isRoot)('group commit on a full disk', () => {
  it('fails the batch with SQLITE_FULL, is not left wedged, and commits again when space returns', async () => {
    const sqlite = openSqlite(join(mnt, 'test.db'));
    sqlite.raw.exec('create table items (id text primary key, body text not null)');
    const commitErrors: Error[] = [];
    const dialect = new GroupCommitSqliteDialect(sqlite, (e) => commitErrors.push(e));
    dialect.driver.grouping = true;
    const db = new Kysely<Db>({ dialect });
    const body = 'x'.repeat(32 * 1024);
    const unit = (id: string) =>
      db.transaction().execute(async (tx) => {
        await tx.insertInto('items').values({ id, body }).execute();
      });

    const committed: string[] = [];
    for (let i = 0; i < 10; i++) {
      await unit(`before-${i}`);
      committed.push(`before-${i}`);
    }
    // Fill the rest of the disk.
    const filler = join(mnt, 'filler');
    const fd = openSync(filler, 'a');
    for (const size of [1 << 16, 1 << 12]) {
      const chunk = Buffer.alloc(size);
      for (;;) {
        try {
          writeSync(fd, chunk);
        } catch {
          break;
        }
      }
    }
    closeSync(fd);

    // Concurrent units: the batch they share cannot commit.
    const failed = await within(Promise.allSettled(Array.from({ length: 20 }, (_, i) => unit(`full-${i}`))));
    expect(failed.settled).toBe(true);
    const outcomes = (failed as { value: PromiseSettledResult<void>[] }).value;
    const rejected = outcomes.filter((o) => o.status === 'rejected') as PromiseRejectedResult[];
    for (const o of outcomes) if (o.status === 'fulfilled') committed.push(`full-${outcomes.indexOf(o)}`);
    expect(rejected.length).toBeGreaterThan(0);
    expect(String(rejected[0]!.reason)).toMatch(/database or disk is full/);
    // The failure is reported (the server's health shows it) besides failing the units.
    expect(commitErrors.length).toBeGreaterThan(0);
    expect(commitErrors[0]!.message).toMatch(/database or disk is full/);
    console.log(
      `[sqlite.diskfull] ${rejected.length} of 20 units refused; commit errors reported: ${commitErrors.length}`,
    );

    // Not wedged: more writes still settle (refused while the disk is full), and reads work.
    for (let i = 0; i < 3; i++) {
      const r = await within(unit(`still-full-${i}`));
      expect(r.settled).toBe(true);
      if (!('error' in r && r.error)) committed.push(`still-full-${i}`);
    }
    const count = await within(db.selectFrom('items').select(db.fn.countAll().as('n')).executeTakeFirst());
    expect(count.settled).toBe(true);

    // Space returns: writes commit again; everything committed before is there.
    rmSync(filler);
    const after = await within(unit('after'));
    expect(after.settled).toBe(true);
    expect('error' in after ? after.error : undefined).toBeUndefined();
    committed.push('after');
    const rows = (await db.selectFrom('items').select('id').execute()).map((r) => r.id);
    for (const id of committed) expect(rows).toContain(id);
    await db.destroy();
  }, 60_000);
});
