/**
 * Row-level security on the workspace snapshots table (migration 017): with the policies on, under
 * an ordinary role that owns the tables, a statement run for one org neither sees, reads, changes
 * nor forges another org's snapshot, even with no `where org_id` of its own; the system's own work
 * (retention, the collector's roots, resume) still sees every org's.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { inScope, openStore, orgScope, type Store } from '../src/store/index.js';
import { freshDatabase, postgres, postgresDescribe } from './pg.support.js';

async function admin(url: string, statements: string[]): Promise<void> {
  const pg = await import('pg');
  const c = new pg.default.Client({ connectionString: url });
  await c.connect();
  try {
    for (const s of statements) await c.query(s);
  } finally {
    await c.end();
  }
}

postgresDescribe('snapshots under row-level security', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  const role = `mrn_snaprls_${process.pid}_${randomBytes(3).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  let store: Store | null = null;

  beforeAll(async () => {
    db = await freshDatabase();
    await admin(db.url, [
      `CREATE ROLE "${role}" LOGIN PASSWORD '${password}' NOSUPERUSER NOBYPASSRLS`,
      `ALTER DATABASE "${db.name}" OWNER TO "${role}"`,
    ]);
    const u = new URL(db.url);
    u.username = role;
    u.password = password;
    store = await openStore({ home: '/nonexistent', databaseUrl: u.toString(), rowLevelSecurity: true });
  });
  afterAll(async () => {
    await store?.close();
    await db?.drop();
    if (postgres.ok) await admin(postgres.url, [`DROP ROLE IF EXISTS "${role}"`]);
  });

  it("another org can neither see, read, change nor forge an org's snapshot", async () => {
    const s = store as Store;
    const a = await s.orgs.createOrg('snap-a');
    const b = await s.orgs.createOrg('snap-b');
    const A = orgScope(a.id);
    const B = orgScope(b.id);
    const row = {
      orgId: a.id,
      sessionId: 'ses_a',
      parentId: null,
      manifestId: 'f'.repeat(64),
      reason: 'checkpoint' as const,
      files: 1,
      bytes: 10,
      bytesNew: 10,
      pinned: true,
      runnerId: null,
    };
    const snap = await s.snapshots.add({ id: 'snp_a', ...row });
    // The org's own scope sees it; the system's own reads too.
    expect((await s.snapshots.get(A, snap.id))?.id).toBe(snap.id);
    expect(await s.snapshots.byId(snap.id)).not.toBeNull();
    expect(await s.snapshots.manifestIds()).toEqual(['f'.repeat(64)]);
    // Org B: through the repository, and with statements that do not filter by org at all.
    expect(await s.snapshots.get(B, snap.id)).toBeNull();
    expect(await s.snapshots.list(B, { limit: 10 })).toEqual([]);
    const raw = await inScope(B, () => s.db.selectFrom('snapshots').select(['id', 'manifest_id']).execute());
    expect(raw).toEqual([]);
    const changed = await inScope(B, () =>
      s.db.updateTable('snapshots').set({ pinned: 0 }).where('id', '=', snap.id).executeTakeFirst(),
    );
    expect(Number(changed.numUpdatedRows)).toBe(0);
    const gone = await inScope(B, () => s.db.deleteFrom('snapshots').where('id', '=', snap.id).executeTakeFirst());
    expect(Number(gone.numDeletedRows)).toBe(0);
    // Nor can B write a row in A's name (one naming A's manifest would make B a reader of A's data).
    await expect(
      inScope(B, () =>
        s.db
          .insertInto('snapshots')
          .values({
            id: 'snp_forged',
            org_id: a.id,
            session_id: 'ses_b',
            parent_id: null,
            manifest_id: 'f'.repeat(64),
            reason: 'fork',
            files: 1,
            bytes: 10,
            bytes_new: 0,
            pinned: 0,
            runner_id: null,
            created_at: Date.now(),
          })
          .execute(),
      ),
    ).rejects.toThrow(/row-level security/);
    // A's row is untouched.
    expect(await s.snapshots.get(A, snap.id)).toMatchObject({ pinned: true, manifestId: 'f'.repeat(64) });
  });
});
