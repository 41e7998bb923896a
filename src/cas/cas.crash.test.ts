/**
 * A snapshot that cannot finish leaves the store consistent: with a full disk (the store on a
 * small tmpfs this test mounts; root only, skipped with the reason printed elsewhere, CI runs as
 * root) it fails with InsufficientStorage, returns no manifest, leaves no partial object, and the
 * earlier snapshot still restores; killed in the middle (SIGKILL of a child process), it leaves no
 * manifest root, and the GC later removes its leftovers. A pack write killed in the middle (or a
 * pack cut short on disk) leaves every batch wholly stored or wholly absent, and every object that
 * lists reads back verified.
 */
import { execFileSync, spawn } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InsufficientStorage } from '../core/errors.js';
import { decodeVerified } from './codec.js';
import { FsBackend } from './fs-backend.js';
import { collectGarbage } from './gc.js';
import { readManifestRoot } from './manifest.js';
import { restoreDir } from './restore.js';
import { snapshotDir } from './snapshot.js';
import { describeTree, prng } from './test-tree.test-support.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.log('[cas.crash] full-disk test skipped: mounting a tmpfs needs root (CI runs as root)');

let tmp: string;
let mnt = '';
let mounted = false;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'cas-crash-'));
  if (!isRoot) return;
  mnt = join(tmp, 'mnt');
  mkdirSync(mnt);
  // Fails the test (not a skip) when root cannot mount: CI must run it.
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', mnt]);
  mounted = true;
});
afterAll(() => {
  if (mounted) execFileSync('umount', ['-l', mnt]);
  rmSync(tmp, { recursive: true, force: true });
});

async function roots(store: FsBackend): Promise<string[]> {
  const found: string[] = [];
  for await (const { id } of store.list())
    if (
      await readManifestRoot(store, id).then(
        () => true,
        () => false,
      )
    )
      found.push(id);
  return found;
}

describe('a snapshot that cannot finish', () => {
  it.skipIf(!isRoot)('fails cleanly on a full disk and loses nothing stored before', async () => {
    const store = new FsBackend(join(mnt, 'cas'));
    const small = join(tmp, 'small');
    mkdirSync(small);
    writeFileSync(join(small, 'a.txt'), 'kept '.repeat(1000));
    const before = await snapshotDir(small, store);

    const big = join(tmp, 'big');
    mkdirSync(big);
    for (let i = 0; i < 12; i++) writeFileSync(join(big, `blob${i}.bin`), prng(100 + i, 512 * 1024));
    const err = await snapshotDir(big, store).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InsufficientStorage);
    expect((err as Error).message).toMatch(/content store .* is full/);
    expect(readdirSync(join(mnt, 'cas/tmp'))).toEqual([]);
    expect(await roots(store)).toEqual([before.manifestId]);
    const out = join(tmp, 'out-full');
    await restoreDir(before.manifestId, store, out);
    expect(describeTree(out)).toEqual(describeTree(small));
  });

  it('killed in the middle, leaves no manifest root; the GC removes what it left', async () => {
    const store = new FsBackend(join(tmp, 'cas-kill'));
    const ws = join(tmp, 'ws-kill');
    mkdirSync(ws);
    for (let i = 0; i < 40; i++) writeFileSync(join(ws, `blob${i}.bin`), prng(200 + i, 1024 * 1024));
    // The child runs the built store (npm run build first, as for every end-to-end test).
    const dist = fileURLToPath(new URL('../../dist/src/cas/', import.meta.url));
    const script = `
      const { FsBackend } = await import(${JSON.stringify(join(dist, 'fs-backend.js'))});
      const { snapshotDir } = await import(${JSON.stringify(join(dist, 'snapshot.js'))});
      const store = new FsBackend(process.argv[2]);
      let puts = 0;
      const sink = { has: (ids) => store.has(ids), put: async (id, d) => { await store.put(id, d); if (++puts === 10) process.stdout.write('put\\n'); } };
      await snapshotDir(process.argv[1], sink, undefined, { batchSize: 4 });
      process.stdout.write('finished\\n');
    `;
    const proc = spawn(process.execPath, ['--input-type=module', '-e', script, ws, join(tmp, 'cas-kill')], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    // The child prints "put" after its tenth object; kill it then.
    await new Promise<void>((resolve, reject) => {
      proc.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('put')) resolve();
      });
      proc.on('exit', (code) => reject(new Error(`child exited (${code}) before it was killed`)));
    });
    proc.kill('SIGKILL');
    await new Promise((r) => proc.on('exit', r));
    let objects = 0;
    for await (const _ of store.list()) objects++;
    expect(objects).toBeGreaterThan(0);
    expect(await roots(store)).toEqual([]);
    const r = await collectGarbage(store, { roots: [], now: Date.now() + 48 * 3_600_000 });
    expect(r.deleted).toBe(objects);
    expect(readdirSync(join(tmp, 'cas-kill/tmp'))).toEqual([]);
  });

  it('a pack write killed in the middle stores each batch whole or not at all; a pack cut short is ignored', async () => {
    const root = join(tmp, 'cas-packs');
    const dist = fileURLToPath(new URL('../../dist/src/cas/', import.meta.url));
    // Batches of 1,500 distinct small objects (about 12 MB a pack), written until the child is killed.
    const script = `
      const { FsBackend } = await import(${JSON.stringify(join(dist, 'fs-backend.js'))});
      const { encodeSync, hashId } = await import(${JSON.stringify(join(dist, 'codec.js'))});
      const { randomBytes } = await import('node:crypto');
      const store = new FsBackend(process.argv[1]);
      for (let b = 0; ; b++) {
        const batch = [];
        for (let i = 0; i < 1500; i++) {
          const plain = randomBytes(8000);
          batch.push({ id: hashId(plain), data: encodeSync(plain) });
        }
        await store.putMany(batch);
        process.stdout.write('batch\\n');
      }
    `;
    const proc = spawn(process.execPath, ['--input-type=module', '-e', script, root], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let batches = 0;
    await new Promise<void>((resolve, reject) => {
      proc.stdout.on('data', (d: Buffer) => {
        batches += d.toString().split('batch').length - 1;
        if (batches >= 2) resolve();
      });
      proc.on('exit', (code) => reject(new Error(`child exited (${code}) before it was killed`)));
    });
    proc.kill('SIGKILL');
    await new Promise((r) => proc.on('exit', r));

    const verifyAll = async (store: FsBackend): Promise<number> => {
      let n = 0;
      for await (const o of store.list()) {
        decodeVerified(o.id, (await store.get(o.id)) as Uint8Array);
        n++;
      }
      return n;
    };
    const store = new FsBackend(root);
    const stored = await verifyAll(store);
    expect(stored).toBeGreaterThanOrEqual(2 * 1500);
    expect(stored % 1500).toBe(0);

    // A pack cut short on disk (a torn copy of a good one) and a temporary file of a write in the
    // middle: the first is ignored, the second is a leftover the GC removes.
    const packs = join(root, 'packs');
    const good = readdirSync(packs)[0] as string;
    copyFileSync(join(packs, good), join(packs, 'torn.pack'));
    truncateSync(join(packs, 'torn.pack'), Math.floor(statSync(join(packs, good)).size / 2));
    writeFileSync(join(root, 'tmp', 'partial.pack'), Buffer.alloc(4096));
    const old = (Date.now() - 48 * 3_600_000) / 1000;
    utimesSync(join(root, 'tmp', 'partial.pack'), old, old);
    const again = new FsBackend(root);
    expect(await verifyAll(again)).toBe(stored);
    const r = await collectGarbage(again, { roots: [], graceMs: 24 * 3_600_000, dryRun: true });
    expect(r.scanned).toBe(stored);
    expect(readdirSync(join(root, 'tmp'))).toEqual([]);
    await again.close();
    await store.close();
  });
});
