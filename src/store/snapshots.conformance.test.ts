/**
 * The snapshots table (migration 013) on every store dialect: SQLite always, PostgreSQL when one
 * is reachable (test/pg.support.ts). Rows, scoping, the collector's roots and retention.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, postgresDescribe } from '../../test/pg.support.js';
import { newId } from '../core/ids.js';
import { openStore, orgScope, type Store } from './index.js';

const DIALECTS: { name: string; open: () => Promise<{ store: Store; cleanup: () => Promise<void> }> }[] = [
  {
    name: 'sqlite',
    open: async () => {
      const home = mkdtempSync(join(tmpdir(), 'mrn-snap-'));
      return { store: await openStore({ home }), cleanup: async () => rmSync(home, { recursive: true, force: true }) };
    },
  },
  {
    name: 'postgres',
    open: async () => {
      const db = await freshDatabase();
      return { store: await openStore({ home: tmpdir(), databaseUrl: db.url }), cleanup: db.drop };
    },
  },
];

for (const dialect of DIALECTS) {
  (dialect.name === 'postgres' ? postgresDescribe : describe)(`snapshots: ${dialect.name}`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    let orgId: string;
    let projectId: string;

    beforeAll(async () => {
      ({ store, cleanup } = await dialect.open());
      ({ orgId, projectId } = await store.auth.ensureDefaultTenancy());
    });
    afterAll(async () => {
      await store?.close();
      await cleanup?.();
    });

    const session = async (endedAt: number | null = null) => {
      const id = newId('ses');
      const now = Date.now();
      await store.sessions.insert({
        id,
        org_id: orgId,
        project_id: projectId,
        agent: 'shell',
        state: endedAt === null ? 'active' : 'completed',
        state_reason: null,
        pool_id: null,
        runner_id: null,
        request: '{}',
        placement: null,
        wait_for_capacity: 1,
        priority: 0,
        suspend: null,
        created_at: now,
        updated_at: now,
        ended_at: endedAt,
      });
      return id;
    };
    let clock = 1_000_000;
    const snap = (sessionId: string, extra: { pinned?: boolean; manifestId?: string; org?: string } = {}) =>
      store.snapshots.add({
        id: newId('snp'),
        orgId: extra.org ?? orgId,
        sessionId,
        parentId: null,
        manifestId: extra.manifestId ?? newId('m'),
        reason: extra.pinned ? 'checkpoint' : 'suspend',
        files: 3,
        bytes: 5_000_000_000, // past 2^32: bigint columns
        bytesNew: 12,
        pinned: extra.pinned ?? false,
        runnerId: null,
        createdAt: clock++,
      });

    it('keeps a row as written, scoped to its org, newest first', async () => {
      const s = await session();
      const a = await snap(s);
      const b = await snap(s, { pinned: true });
      const scope = orgScope(orgId);
      expect(await store.snapshots.get(scope, a.id)).toEqual(a);
      expect(await store.snapshots.get(orgScope('org_other'), a.id)).toBeNull();
      expect((await store.snapshots.list(scope, { sessionId: s, limit: 10 })).map((x) => x.id)).toEqual([b.id, a.id]);
      expect((await store.snapshots.latest(s))?.id).toBe(b.id);
      expect(b.pinned).toBe(true);
      expect(b.bytes).toBe(5_000_000_000);
    });

    it('names each kept manifest once as a root for the collector', async () => {
      const s = await session();
      await snap(s, { manifestId: 'shared-manifest' });
      await snap(s, { manifestId: 'shared-manifest' });
      const roots = await store.snapshots.manifestIds();
      expect(roots.filter((m) => m === 'shared-manifest')).toHaveLength(1);
    });

    it('retention keeps the newest N unpinned per session and every pinned one; ended and missing sessions go', async () => {
      const live = await session();
      const old = [await snap(live), await snap(live), await snap(live)];
      const pin = await snap(live, { pinned: true });
      const newest = await snap(live);
      const ended = await session(5);
      const endedSnap = await snap(ended, { pinned: true });
      const gone = await snap('ses_never_existed');
      const deleted = await store.snapshots.applyRetention(2, 10);
      for (const x of [old[0]!, old[1]!, endedSnap, gone]) expect(deleted).toContain(x.id);
      const left = (await store.snapshots.list(orgScope(orgId), { sessionId: live, limit: 10 })).map((x) => x.id);
      expect(left).toEqual([newest.id, pin.id, old[2]!.id]);
      expect(await store.snapshots.byId(endedSnap.id)).toBeNull();
      // A session that ended after the cut-off keeps its snapshots.
      const recent = await session(50);
      const kept = await snap(recent);
      await store.snapshots.applyRetention(2, 10);
      expect(await store.snapshots.byId(kept.id)).not.toBeNull();
    });
  });
}
