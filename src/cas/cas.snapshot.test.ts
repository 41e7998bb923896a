import {
  chmodSync,
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashId } from './codec.js';
import { FsBackend } from './fs-backend.js';
import { WorkspaceIndex } from './index-file.js';
import { readManifest, readManifestRoot } from './manifest.js';
import { RESTORE_MARKER, RestoreFailed, restoreDir } from './restore.js';
import { snapshotDir } from './snapshot.js';
import { describeTree, makeTree } from './test-tree.test-support.js';
import type { ChunkSink } from './types.js';

let tmp: string;
let store: FsBackend;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'cas-snap-'));
  store = new FsBackend(join(tmp, 'cas'));
});
afterEach(() => {
  // Read-only directories from the tree would stop rm as a non-root user.
  const fix = (d: string) => {
    if (!existsSync(d)) return;
    chmodSync(d, 0o755);
    for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) fix(join(d, e.name));
  };
  fix(tmp);
  rmSync(tmp, { recursive: true, force: true });
});

describe('snapshotDir and restoreDir', () => {
  it('restores every file, mode, mtime and symlink, into an absent and into an empty directory', async () => {
    const ws = join(tmp, 'ws');
    mkdirSync(ws);
    makeTree(ws);
    const snap = await snapshotDir(ws, store);
    expect(snap.files).toBe(describeTree(ws).length);
    expect(snap.bytesNew).toBeGreaterThan(0);
    // The duplicate 3 MB file costs nothing: stored bytes well under the plain bytes.
    expect(snap.bytesNew).toBeLessThan(snap.bytes * 0.6);

    const out = join(tmp, 'out');
    await restoreDir(snap.manifestId, store, out);
    expect(describeTree(out)).toEqual(describeTree(ws));

    const mount = join(tmp, 'mount');
    mkdirSync(mount);
    await restoreDir(snap.manifestId, store, mount);
    expect(describeTree(mount)).toEqual(describeTree(ws));
    expect(existsSync(join(mount, RESTORE_MARKER))).toBe(false);
  });

  it('gives the same manifest id for an unchanged tree and, with the index, reads no file again', async () => {
    const ws = join(tmp, 'ws');
    mkdirSync(ws);
    makeTree(ws);
    const indexFile = join(tmp, 'index');
    const index = await WorkspaceIndex.load(indexFile);
    const first = await snapshotDir(ws, store, index);
    await index.save(indexFile, first.manifestId);
    const again = await snapshotDir(ws, store, await WorkspaceIndex.load(indexFile));
    expect(again.manifestId).toBe(first.manifestId);
    expect(again.bytesRead).toBe(0);
    expect(again.bytesNew).toBe(0);

    writeFileSync(join(ws, 'src/main.ts'), 'export const x = 2;\n');
    const idx = await WorkspaceIndex.load(indexFile);
    const changed = await snapshotDir(ws, store, idx);
    expect(changed.manifestId).not.toBe(first.manifestId);
    expect(changed.bytesRead).toBe(20);
    expect(changed.bytesNew).toBeLessThan(5000); // the file, one manifest chunk, the root
    const out = join(tmp, 'out');
    await restoreDir(changed.manifestId, store, out);
    expect(describeTree(out)).toEqual(describeTree(ws));
  });

  it('confirms the index hits of an unchanged tree in batches, not one store query per file', async () => {
    const ws = join(tmp, 'ws');
    for (let d = 0; d < 6; d++) {
      mkdirSync(join(ws, `d${d}`), { recursive: true });
      for (let f = 0; f < 100; f++) writeFileSync(join(ws, `d${d}`, `f${f}.txt`), `file ${d}/${f}\n`.repeat(20));
    }
    // A file that changes between the snapshots is read again, among the hits.
    const indexFile = join(tmp, 'index');
    const index = await WorkspaceIndex.load(indexFile);
    const first = await snapshotDir(ws, store, index);
    await index.save(indexFile, first.manifestId);
    writeFileSync(join(ws, 'd3/f50.txt'), 'changed\n');
    let calls = 0;
    let asked = 0;
    const counting: ChunkSink = {
      has: (ids) => {
        calls++;
        asked += ids.length;
        return store.has(ids);
      },
      put: (id, data) => store.put(id, data),
      putMany: (objects) => store.putMany(objects),
    };
    const again = await snapshotDir(ws, counting, await WorkspaceIndex.load(indexFile), { batchSize: 256 });
    expect(again.filesUnchanged).toBe(599);
    expect(again.bytesRead).toBe(8);
    expect(asked).toBeGreaterThanOrEqual(599);
    // 599 hits in batches of 256 (3), the changed file's batch, the manifest's and the root: not ~600.
    expect(calls).toBeLessThanOrEqual(8);
    const out = join(tmp, 'out');
    await restoreDir(again.manifestId, store, out);
    expect(describeTree(out)).toEqual(describeTree(ws));
  });

  it('reads a file again when the index vouches for chunks the store no longer has', async () => {
    const ws = join(tmp, 'ws');
    mkdirSync(ws);
    writeFileSync(join(ws, 'a.txt'), 'alpha '.repeat(1000));
    const indexFile = join(tmp, 'index');
    const index = await WorkspaceIndex.load(indexFile);
    const first = await snapshotDir(ws, store, index);
    await index.save(indexFile, first.manifestId);
    await store.delete([hashId(Buffer.from('alpha '.repeat(1000)))]);
    const again = await snapshotDir(ws, store, await WorkspaceIndex.load(indexFile));
    expect(again.bytesRead).toBe(6000);
    const out = join(tmp, 'out');
    await restoreDir(again.manifestId, store, out);
    expect(describeTree(out)).toEqual(describeTree(ws));
  });

  it('fails the restore of a missing chunk naming the snapshot and the path, leaving nothing behind', async () => {
    const ws = join(tmp, 'ws');
    mkdirSync(join(ws, 'd'), { recursive: true });
    writeFileSync(join(ws, 'd/victim.txt'), 'victim '.repeat(100));
    writeFileSync(join(ws, 'other.txt'), 'fine');
    const snap = await snapshotDir(ws, store);
    await store.delete([hashId(Buffer.from('victim '.repeat(100)))]);
    const out = join(tmp, 'out');
    const err = await restoreDir(snap.manifestId, store, out).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RestoreFailed);
    expect((err as Error).message).toContain(snap.manifestId);
    expect((err as Error).message).toContain('d/victim.txt');
    expect((err as Error).message).toContain('missing');
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(tmp).filter((n) => n.startsWith('out'))).toEqual([]);
  });

  it('fails the restore of a corrupt chunk naming the snapshot and the path; an empty target stays empty', async () => {
    const ws = join(tmp, 'ws');
    mkdirSync(ws);
    const content = 'corrupt me '.repeat(100);
    writeFileSync(join(ws, 'victim.txt'), content);
    const snap = await snapshotDir(ws, store);
    const id = hashId(Buffer.from(content));
    const stored = (await store.get(id)) as Uint8Array;
    // A small file's chunk is in a pack: its last byte is flipped where it lies.
    const at = store.locate(id);
    expect(at?.file).toMatch(/\.pack$/);
    const fd = openSync(at!.file, 'r+');
    writeSync(fd, Buffer.from([(stored[stored.length - 1] as number) ^ 0xff]), 0, 1, at!.offset + at!.length - 1);
    closeSync(fd);
    const mount = join(tmp, 'mount');
    mkdirSync(mount);
    const err = await restoreDir(snap.manifestId, store, mount).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RestoreFailed);
    expect((err as Error).message).toMatch(
      new RegExp(`snapshot ${snap.manifestId}: chunk ${id} at victim.txt is corrupt`),
    );
    expect(readdirSync(mount)).toEqual([]);
  });

  it('restores through a link to an empty directory (a warm local runner’s workspace is one)', async () => {
    const ws = join(tmp, 'ws');
    mkdirSync(ws);
    makeTree(ws);
    const snap = await snapshotDir(ws, store);
    const real = join(tmp, 'real');
    mkdirSync(real);
    const link = join(tmp, 'link');
    symlinkSync(real, link);
    await restoreDir(snap.manifestId, store, link);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(describeTree(real)).toEqual(describeTree(ws));
  });

  it('refuses to restore into a directory that is not empty, and touches nothing there', async () => {
    const ws = join(tmp, 'ws');
    mkdirSync(ws);
    writeFileSync(join(ws, 'a'), 'a');
    const snap = await snapshotDir(ws, store);
    await expect(restoreDir(snap.manifestId, store, ws)).rejects.toThrow(/not an empty directory/);
    expect(readdirSync(ws)).toEqual(['a']);
  });

  it('refuses a manifest whose paths would leave the restore root', async () => {
    // Hand-built manifest: a symlink to the outside, then a file "through" it.
    const { encodeSync } = await import('./codec.js');
    const lines = `${[
      JSON.stringify({ path: 'esc', type: 'symlink', mode: 0o777, size: 4, mtimeMs: 0, target: '/tmp' }),
      JSON.stringify({ path: 'esc/pwned', type: 'file', mode: 0o644, size: 0, mtimeMs: 0, chunks: [] }),
    ].join('\n')}\n`;
    const body = Buffer.from(lines);
    const bodyId = hashId(body);
    await store.put(bodyId, encodeSync(body));
    const root = Buffer.from(
      JSON.stringify({ v: 1, kind: 'marionette-manifest', files: 2, bytes: 0, chunks: [bodyId] }),
    );
    const rootId = hashId(root);
    await store.put(rootId, encodeSync(root));
    const out = join(tmp, 'out');
    await expect(restoreDir(rootId, store, out)).rejects.toThrow(/lies under a non-directory/);
    expect(existsSync(out)).toBe(false);

    const dotdot = Buffer.from(`${JSON.stringify({ path: '../x', type: 'dir', mode: 0o755, size: 0, mtimeMs: 0 })}\n`);
    await store.put(hashId(dotdot), encodeSync(dotdot));
    const root2 = Buffer.from(
      JSON.stringify({ v: 1, kind: 'marionette-manifest', files: 1, bytes: 0, chunks: [hashId(dotdot)] }),
    );
    await store.put(hashId(root2), encodeSync(root2));
    await expect(restoreDir(hashId(root2), store, out)).rejects.toThrow(/bad entry/);
  });

  it('puts the manifest root only after every chunk, and a failing put fails the snapshot with no root', async () => {
    const ws = join(tmp, 'ws');
    mkdirSync(ws);
    for (let i = 0; i < 50; i++) writeFileSync(join(ws, `f${i}`), `file ${i} `.repeat(200));
    let puts = 0;
    const failing: ChunkSink = {
      has: (ids) => store.has(ids),
      put: async (id, data) => {
        if (++puts === 20) throw new Error('disk on fire');
        await store.put(id, data);
      },
    };
    await expect(snapshotDir(ws, failing, undefined, { batchSize: 8 })).rejects.toThrow(/disk on fire/);
    // No object in the store is a manifest root.
    for await (const { id } of store.list()) await expect(readManifestRoot(store, id)).rejects.toThrow();
  });

  it('sends each batch in one putMany call when the sink has one; a failing putMany stores no root', async () => {
    const ws = join(tmp, 'ws');
    mkdirSync(ws);
    for (let i = 0; i < 50; i++) writeFileSync(join(ws, `f${i}`), `file ${i} `.repeat(200));
    const calls: number[] = [];
    let singles = 0;
    const batched: ChunkSink = {
      has: (ids) => store.has(ids),
      put: async (id, data) => {
        singles++;
        await store.put(id, data);
      },
      putMany: async (objects) => {
        calls.push(objects.length);
        for (const o of objects) await store.put(o.id, o.data);
      },
    };
    const snap = await snapshotDir(ws, batched, undefined, { batchSize: 8 });
    expect(calls.length).toBeGreaterThan(1);
    expect(Math.max(...calls)).toBeLessThanOrEqual(8);
    expect(singles).toBeLessThanOrEqual(1); // at most the manifest root, written last on its own
    const out = join(tmp, 'out');
    await restoreDir(snap.manifestId, store, out);
    expect(describeTree(out)).toEqual(describeTree(ws));
    // A second snapshot of the same tree sends nothing new.
    const again = await snapshotDir(ws, batched, undefined, { batchSize: 8 });
    expect(again.bytesNew).toBe(0);

    const other = join(tmp, 'other');
    mkdirSync(other);
    for (let i = 0; i < 30; i++) writeFileSync(join(other, `g${i}`), `other ${i} `.repeat(300));
    const fresh = new FsBackend(join(tmp, 'cas2'));
    const failing: ChunkSink = {
      has: (ids) => fresh.has(ids),
      put: (id, data) => fresh.put(id, data),
      putMany: async () => {
        throw new Error('gateway went away');
      },
    };
    await expect(snapshotDir(other, failing, undefined, { batchSize: 8 })).rejects.toThrow(/gateway went away/);
    for await (const { id } of fresh.list()) await expect(readManifestRoot(fresh, id)).rejects.toThrow();
  });

  it('streams a manifest of many entries in order', async () => {
    const ws = join(tmp, 'ws');
    mkdirSync(join(ws, 'many'), { recursive: true });
    for (let i = 0; i < 3000; i++)
      writeFileSync(join(ws, 'many', `file-with-a-long-name-${String(i).padStart(5, '0')}`), `${i}`);
    const snap = await snapshotDir(ws, store);
    const root = await readManifestRoot(store, snap.manifestId);
    expect(root.chunks.length).toBeGreaterThan(1);
    const paths: string[] = [];
    for await (const e of readManifest(store, snap.manifestId)) paths.push(e.path);
    expect(paths.length).toBe(3001);
    expect(paths).toEqual([...paths].sort());
  });
});
