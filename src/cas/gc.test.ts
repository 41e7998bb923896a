import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsBackend } from './fs-backend.js';
import { collectGarbage, GcAborted } from './gc.js';
import { readManifestRoot } from './manifest.js';
import { restoreDir } from './restore.js';
import { snapshotDir } from './snapshot.js';
import { describeTree, prng } from './test-tree.test-support.js';
import type { ChunkBackend } from './types.js';

const HOUR = 3_600_000;
let tmp: string;
let store: FsBackend;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'cas-gc-'));
  store = new FsBackend(join(tmp, 'cas'));
});
afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function tree(name: string, files: Record<string, string | Buffer>): string {
  const dir = join(tmp, name);
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), c);
  }
  return dir;
}

/** Ages every stored object by `ms` (as if written that long ago). */
function ageStore(ms: number): void {
  const objects = join(tmp, 'cas/objects');
  const t = (Date.now() - ms) / 1000;
  for (const fan of readdirSync(objects))
    for (const f of readdirSync(join(objects, fan))) utimesSync(join(objects, fan, f), t, t);
  const packs = join(tmp, 'cas/packs');
  for (const f of readdirSync(packs)) utimesSync(join(packs, f), t, t);
}

async function count(b: ChunkBackend): Promise<number> {
  let n = 0;
  for await (const _ of b.list()) n++;
  return n;
}

describe('collectGarbage', () => {
  it('keeps everything a kept snapshot reaches and sweeps an old dropped one (dry run first)', async () => {
    const kept = await snapshotDir(tree('a', { 'shared.txt': 'shared '.repeat(500), 'a.txt': 'only a' }), store);
    const dropped = await snapshotDir(
      tree('b', { 'shared.txt': 'shared '.repeat(500), 'b.bin': prng(3, 200_000) }),
      store,
    );
    ageStore(48 * HOUR);
    const total = await count(store);

    const dry = await collectGarbage(store, { roots: [kept.manifestId], dryRun: true });
    expect(dry.deleted).toBeGreaterThan(0);
    expect(dry.bytesFreed).toBeGreaterThan(100_000);
    expect(await count(store)).toBe(total);

    const real = await collectGarbage(store, { roots: [kept.manifestId] });
    expect(real.deleted).toBe(dry.deleted);
    expect(real.bytesFreed).toBe(dry.bytesFreed);
    expect(await count(store)).toBe(total - real.deleted);
    await expect(readManifestRoot(store, dropped.manifestId)).rejects.toThrow(/missing/);
    const out = join(tmp, 'out');
    await restoreDir(kept.manifestId, store, out);
    expect(describeTree(out)).toEqual(describeTree(join(tmp, 'a')));
  });

  it('keeps unreferenced objects younger than the grace period', async () => {
    await snapshotDir(tree('a', { 'x.txt': 'young' }), store);
    const r = await collectGarbage(store, { roots: [] });
    expect(r.deleted).toBe(0);
    expect(r.young).toBe(await count(store));
  });

  it('stops before deleting anything when a kept snapshot cannot be read whole', async () => {
    const many: Record<string, string> = {};
    for (let i = 0; i < 2000; i++) many[`d/file-${i}`] = `content ${i}`;
    const kept = await snapshotDir(tree('a', many), store);
    await snapshotDir(tree('b', { 'garbage.txt': 'garbage' }), store);
    ageStore(48 * HOUR);
    const root = await readManifestRoot(store, kept.manifestId);
    await store.delete([root.chunks[root.chunks.length - 1] as string]);
    const before = await count(store);
    const err = await collectGarbage(store, { roots: [kept.manifestId] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GcAborted);
    expect((err as Error).message).toContain(kept.manifestId);
    expect(await count(store)).toBe(before);
  });

  /**
   * The worst interleaving: the GC lists the store (the dropped snapshot's chunks look old), then a
   * snapshot that reuses those chunks and adds new ones runs to the end, then the GC sweeps. The
   * GC's roots do not include the new snapshot (its row is not committed yet when the GC reads them).
   */
  async function raceOnce(gcBackendHasStat: boolean): Promise<{ restored: boolean }> {
    const content = { 'lib/big.bin': prng(9, 600_000), 'src/a.ts': 'export const a = 1;\n'.repeat(200) };
    const old = await snapshotDir(tree('old', content), store);
    ageStore(48 * HOUR);
    let releaseList!: () => void;
    const listed = new Promise<void>((r) => {
      releaseList = r;
    });
    let gcListed!: () => void;
    const gcHasListed = new Promise<void>((r) => {
      gcListed = r;
    });
    const gcView: ChunkBackend = {
      has: (ids) => store.has(ids),
      put: (id, d) => store.put(id, d),
      get: (id) => store.get(id),
      delete: (ids) => store.delete(ids),
      list: async function* () {
        const all: { id: string; mtimeMs: number; size?: number }[] = [];
        for await (const o of store.list()) all.push(o);
        gcListed();
        await listed;
        yield* all;
      },
      ...(gcBackendHasStat ? { stat: (ids: string[]) => store.stat(ids) } : {}),
    };
    const gc = collectGarbage(gcView, { roots: [] });
    await gcHasListed;
    const fresh = await snapshotDir(tree('new', { ...content, 'src/new.ts': 'brand new file\n'.repeat(50) }), store);
    releaseList();
    const r = await gc;
    expect(r.roots).toBe(0);
    expect(old.manifestId).not.toBe(fresh.manifestId);
    const out = join(tmp, `out-${gcBackendHasStat}`);
    const restored = await restoreDir(fresh.manifestId, store, out).then(
      () => true,
      () => false,
    );
    if (restored) expect(describeTree(out)).toEqual(describeTree(join(tmp, 'new')));
    return { restored };
  }

  it('never deletes what a snapshot running during the sweep relies on (old reused chunks and new ones)', async () => {
    expect((await raceOnce(true)).restored).toBe(true);
  });

  it('(the race above is real: without the re-check before deleting, the reused chunks would go)', async () => {
    expect((await raceOnce(false)).restored).toBe(false);
  });

  it('removes leftovers of interrupted puts older than the grace period', async () => {
    const stale = join(tmp, 'cas/tmp', 'abc.leftover');
    writeFileSync(stale, 'half');
    const t = (Date.now() - 48 * HOUR) / 1000;
    utimesSync(stale, t, t);
    writeFileSync(join(tmp, 'cas/tmp', 'def.inflight'), 'being written');
    await collectGarbage(store, { roots: [] });
    expect(readdirSync(join(tmp, 'cas/tmp'))).toEqual(['def.inflight']);
  });
});
