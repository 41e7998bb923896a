/**
 * One conformance suite for every `ChunkBackend`: the filesystem backend and the S3 backend
 * against a local S3-compatible server (s3rver) started here on 127.0.0.1, port 0.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { encodeSync, hashId } from './codec.js';
import { FsBackend } from './fs-backend.js';
import { collectGarbage } from './gc.js';
import { restoreDir } from './restore.js';
import { S3Backend } from './s3-backend.js';
import { type LocalS3, startLocalS3 } from './s3rver.test-support.js';
import { snapshotDir } from './snapshot.js';
import { describeTree, makeTree } from './test-tree.test-support.js';
import type { ChunkBackend } from './types.js';

interface Case {
  name: string;
  /** A fresh, empty backend; `refreshAfterMs` as given. */
  make(refreshAfterMs?: number): Promise<ChunkBackend>;
  setup?(): Promise<void>;
  teardown?(): Promise<void>;
}

let tmp: string;
let s3: LocalS3 | undefined;
let s3Prefix = 0;

const CASES: Case[] = [
  {
    name: 'filesystem',
    make: async (refreshAfterMs) =>
      new FsBackend(mkdtempSync(join(tmp, 'fs-')), refreshAfterMs === undefined ? {} : { refreshAfterMs }),
  },
  {
    name: 's3 (s3rver)',
    setup: async () => {
      s3 = await startLocalS3();
    },
    teardown: async () => {
      await s3?.close();
    },
    make: async (refreshAfterMs) => {
      if (!s3) throw new Error('s3rver not started');
      // A fresh prefix per backend: each test sees an empty store.
      return new S3Backend({
        bucket: s3.bucket,
        prefix: `t${++s3Prefix}/cas`,
        endpoint: s3.endpoint,
        region: 'us-east-1',
        credentials: s3.credentials,
        ...(refreshAfterMs === undefined ? {} : { refreshAfterMs }),
      });
    },
  },
];

function obj(text: string): { id: string; stored: Uint8Array; plain: Buffer } {
  const plain = Buffer.from(text);
  return { id: hashId(plain), stored: encodeSync(plain), plain };
}

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'cas-conf-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

for (const c of CASES) {
  describe(`ChunkBackend conformance: ${c.name}`, () => {
    let b: ChunkBackend;
    beforeAll(async () => {
      await c.setup?.();
    });
    afterAll(async () => {
      await c.teardown?.();
    });
    beforeEach(async () => {
      b = await c.make();
    });
    afterEach(async () => {
      await b.close?.();
    });

    it('puts, has and gets objects by address, keeping the order of has', async () => {
      const a = obj('alpha');
      const z = obj('zulu');
      expect(await b.has([a.id, z.id])).toEqual([false, false]);
      await b.put(a.id, a.stored);
      expect(await b.has([z.id, a.id, z.id])).toEqual([false, true, false]);
      expect(Buffer.from((await b.get(a.id)) as Uint8Array)).toEqual(Buffer.from(a.stored));
      expect(await b.get(z.id)).toBeNull();
      expect(await b.has([])).toEqual([]);
    });

    it('put is idempotent, also when the same object is put concurrently', async () => {
      const a = obj('same bytes '.repeat(1000));
      await Promise.all([b.put(a.id, a.stored), b.put(a.id, a.stored), b.put(a.id, a.stored)]);
      await b.put(a.id, a.stored);
      expect(Buffer.from((await b.get(a.id)) as Uint8Array)).toEqual(Buffer.from(a.stored));
      const listed: string[] = [];
      for await (const o of b.list()) listed.push(o.id);
      expect(listed).toEqual([a.id]);
    });

    it('lists every object with a plausible modification time, and deletes (absent ids are no error)', async () => {
      const objs = Array.from({ length: 30 }, (_, i) => obj(`object ${i}`));
      const before = Date.now() - 5_000;
      for (const o of objs) await b.put(o.id, o.stored);
      const listed = new Map<string, number>();
      for await (const o of b.list()) listed.set(o.id, o.mtimeMs);
      expect([...listed.keys()].sort()).toEqual(objs.map((o) => o.id).sort());
      for (const t of listed.values()) {
        expect(t).toBeGreaterThan(before);
        expect(t).toBeLessThan(Date.now() + 5_000);
      }
      await b.delete([...objs.slice(0, 10).map((o) => o.id), obj('never stored').id]);
      expect(await b.has(objs.map((o) => o.id))).toEqual(objs.map((_, i) => i >= 10));
      const left: string[] = [];
      for await (const o of b.list()) left.push(o.id);
      expect(left.length).toBe(20);
      await b.delete([]);
    });

    it('stores a batch at once where offered (putMany), and deletes some of it keeping the rest readable', async () => {
      const objs = [...Array.from({ length: 40 }, (_, i) => obj(`batched ${i}`)), obj('large '.repeat(10_000))];
      const putMany =
        b.putMany?.bind(b) ??
        (async (os: typeof objs) => {
          for (const o of os) await b.put(o.id, o.stored);
        });
      await putMany(objs.map((o) => ({ id: o.id, data: o.stored, stored: o.stored, plain: o.plain })));
      expect(await b.has(objs.map((o) => o.id))).toEqual(objs.map(() => true));
      const doomed = objs.filter((_, i) => i % 4 === 0);
      await b.delete(doomed.map((o) => o.id));
      expect(await b.has(objs.map((o) => o.id))).toEqual(objs.map((_, i) => i % 4 !== 0));
      for (const [i, o] of objs.entries()) {
        const got = await b.get(o.id);
        if (i % 4 === 0) expect(got).toBeNull();
        else expect(Buffer.from(got as Uint8Array)).toEqual(Buffer.from(o.stored));
      }
      const listed: string[] = [];
      for await (const o of b.list()) listed.push(o.id);
      expect(listed.sort()).toEqual(
        objs
          .filter((_, i) => i % 4 !== 0)
          .map((o) => o.id)
          .sort(),
      );
      expect((await b.stat?.(doomed.map((o) => o.id))) ?? doomed.map(() => null)).toEqual(doomed.map(() => null));
    });

    it('answers has for more ids than one batch (load past the default batch of 256)', async () => {
      const objs = Array.from({ length: 600 }, (_, i) => obj(`many ${i}`));
      for (const o of objs.slice(0, 300)) await b.put(o.id, o.stored);
      const res = await b.has(objs.map((o) => o.id));
      expect(res.filter(Boolean).length).toBe(300);
      expect(res.slice(0, 300).every(Boolean)).toBe(true);
    });

    it('refuses an id that is not a content address (no path or key tricks)', async () => {
      await expect(b.put('../../etc/passwd', new Uint8Array([0]))).rejects.toThrow(/not a content address/);
      await expect(b.get('ABC')).rejects.toThrow(/not a content address/);
      await expect(b.has([`${'a'.repeat(63)}/`])).rejects.toThrow(/not a content address/);
    });

    it('stat gives modification times, null when absent', async () => {
      const a = obj('stat me');
      await b.put(a.id, a.stored);
      const [t, none] = (await b.stat?.([a.id, obj('absent').id])) ?? [];
      expect(typeof t).toBe('number');
      expect(none).toBeNull();
    });

    it('has renews the modification time of an old object (the GC grace period counts from there)', async () => {
      const r = await c.make(200);
      try {
        const a = obj('old object');
        await r.put(a.id, a.stored);
        const [t0] = (await r.stat?.([a.id])) ?? [];
        // S3's Last-Modified has one-second resolution.
        await sleep(1_200);
        expect(await r.has([a.id])).toEqual([true]);
        const [t1] = (await r.stat?.([a.id])) ?? [];
        expect(t1 as number).toBeGreaterThan(t0 as number);
        expect(Buffer.from((await r.get(a.id)) as Uint8Array)).toEqual(Buffer.from(a.stored));
      } finally {
        await r.close?.();
      }
    });

    it('garbage collection keeps a kept snapshot whole and sweeps what nothing references', async () => {
      const ws = join(tmp, `gc-${c.name.replace(/\W/g, '')}`);
      mkdirSync(ws);
      makeTree(ws);
      const kept = await snapshotDir(ws, b);
      const stray = obj('referenced by nothing');
      await b.put(stray.id, stray.stored);
      // Now, nothing is old enough to go.
      const young = await collectGarbage(b, { roots: [kept.manifestId], graceMs: 60_000 });
      expect(young.deleted).toBe(0);
      expect(young.young).toBe(1);
      // A collection two days from now, with a one-day grace: every object is old.
      const r = await collectGarbage(b, {
        roots: [kept.manifestId],
        graceMs: 24 * 3_600_000,
        now: Date.now() + 48 * 3_600_000,
      });
      expect(r.deleted).toBe(1);
      expect(await b.has([stray.id])).toEqual([false]);
      const out = join(tmp, `gc-out-${c.name.replace(/\W/g, '')}`);
      await restoreDir(kept.manifestId, b, out);
      expect(describeTree(out)).toEqual(describeTree(ws));
    });

    it('snapshots a tree into the backend and restores it exactly', async () => {
      const ws = join(tmp, `ws-${c.name.replace(/\W/g, '')}`);
      mkdirSync(ws);
      makeTree(ws);
      const snap = await snapshotDir(ws, b);
      const again = await snapshotDir(ws, b);
      expect(again.manifestId).toBe(snap.manifestId);
      expect(again.bytesNew).toBe(0);
      const out = join(tmp, `out-${c.name.replace(/\W/g, '')}`);
      await restoreDir(snap.manifestId, b, out);
      expect(describeTree(out)).toEqual(describeTree(ws));
    });
  });
}
