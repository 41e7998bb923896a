/**
 * The workspace index records directories and symlinks too, so a tree found exactly as the last
 * snapshot left it reuses that manifest whole (one walk, one `has` call, nothing built or put);
 * any change, of any entry kind, gives the manifest a snapshot without an index would.
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { FsBackend } from './fs-backend.js';
import { WorkspaceIndex } from './index-file.js';
import { restoreDir } from './restore.js';
import { snapshotDir } from './snapshot.js';
import { describeTree, makeTree } from './test-tree.test-support.js';
import type { ChunkSink } from './types.js';

let tmp: string;
let store: FsBackend;
let ws: string;
let indexFile: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'cas-whole-'));
  store = new FsBackend(join(tmp, 'cas'));
  ws = join(tmp, 'ws');
  mkdirSync(ws);
  makeTree(ws);
  indexFile = join(tmp, 'index');
});
afterEach(() => {
  const fix = (d: string) => {
    if (!existsSync(d)) return;
    chmodSync(d, 0o755);
    for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) fix(join(d, e.name));
  };
  fix(tmp);
  rmSync(tmp, { recursive: true, force: true });
});

/** A sink over the store that counts its calls. */
function counting(): ChunkSink & { hasCalls: number; puts: number } {
  const c = {
    hasCalls: 0,
    puts: 0,
    has: (ids: string[]) => {
      c.hasCalls++;
      return store.has(ids);
    },
    put: (id: string, data: Uint8Array) => {
      c.puts++;
      return store.put(id, data);
    },
  };
  return c;
}

async function indexed(sink: ChunkSink = store) {
  const index = await WorkspaceIndex.load(indexFile);
  const r = await snapshotDir(ws, sink, index);
  await index.save(indexFile, r.manifestId);
  return r;
}

it('reuses the last manifest of an unchanged tree: one has call, nothing put, nothing read', async () => {
  const first = await indexed();
  const before = readFileSync(indexFile, 'utf8');
  expect(before).toContain('"k":"d"');
  expect(before).toContain('"k":"l"');
  const sink = counting();
  const again = await indexed(sink);
  expect(again).toMatchObject({
    manifestId: first.manifestId,
    files: first.files,
    bytes: first.bytes,
    bytesNew: 0,
    bytesRead: 0,
  });
  expect(sink.hasCalls).toBe(1);
  expect(sink.puts).toBe(0);
  expect(readFileSync(indexFile, 'utf8')).toBe(before); // not rewritten
  const out = join(tmp, 'out');
  await restoreDir(again.manifestId, store, out);
  expect(describeTree(out)).toEqual(describeTree(ws));
});

const changes: [string, (ws: string) => void][] = [
  ['a new empty directory', (d) => mkdirSync(join(d, 'new-dir'))],
  ['an empty directory removed', (d) => rmdirSync(join(d, 'empty-dir'))],
  ['a directory’s mode', (d) => chmodSync(join(d, 'empty-dir'), 0o700)],
  ['a directory’s mtime alone', (d) => utimesSync(join(d, 'src'), 1_500_000_000, 1_500_000_000)],
  [
    'a symlink retargeted to a target of the same length',
    (d) => {
      unlinkSync(join(d, 'link-to-main'));
      symlinkSync('src/main.js', join(d, 'link-to-main'));
    },
  ],
  ['a file removed', (d) => unlinkSync(join(d, 'README.md'))],
  ['an empty file added', (d) => writeFileSync(join(d, 'src/lib/new.txt'), '')],
  ['a file’s mode', (d) => chmodSync(join(d, 'run.sh'), 0o700)],
];

it.each(changes)('gives the manifest of a fresh snapshot after %s', async (_what, change) => {
  const first = await indexed();
  change(ws);
  const withIndex = await indexed();
  const fresh = await snapshotDir(ws, store); // no index: reads everything
  expect(withIndex.manifestId).toBe(fresh.manifestId);
  expect(withIndex.manifestId).not.toBe(first.manifestId);
  // And the index now describes the changed tree: the next snapshot reuses it whole.
  const sink = counting();
  const third = await indexed(sink);
  expect(third.manifestId).toBe(fresh.manifestId);
  expect(sink.hasCalls).toBe(1);
});

it('builds the manifest again when the store lost its root or a chunk, and heals the store', async () => {
  const first = await indexed();
  await store.delete([first.manifestId]);
  const sink = counting();
  const again = await indexed(sink);
  expect(again.manifestId).toBe(first.manifestId);
  expect(sink.puts).toBeGreaterThan(0); // the root is put again
  const out = join(tmp, 'out');
  await restoreDir(again.manifestId, store, out);
  expect(describeTree(out)).toEqual(describeTree(ws));
});

it('reads an index written before directories were recorded, and reuses the manifest from the next one on', async () => {
  const first = await indexed();
  // The older format: files only.
  const lines = readFileSync(indexFile, 'utf8')
    .split('\n')
    .filter((l) => l && !l.includes('"k":'));
  writeFileSync(indexFile, `${lines.join('\n')}\n`);
  const sink = counting();
  const again = await indexed(sink);
  expect(again.manifestId).toBe(first.manifestId);
  expect(again.bytesRead).toBe(0); // its file rows still spare the reads
  expect(sink.hasCalls).toBeGreaterThan(1); // but the manifest was built
  const next = counting();
  expect((await indexed(next)).manifestId).toBe(first.manifestId);
  expect(next.hasCalls).toBe(1);
});

it('treats an index row of an unknown kind as a damaged index (everything is read again)', async () => {
  await indexed();
  writeFileSync(indexFile, `${readFileSync(indexFile, 'utf8')}{"p":"x","s":[0,0,0,0],"c":[],"k":"socket"}\n`);
  const index = await WorkspaceIndex.load(indexFile);
  expect(index.size).toBe(0);
  expect(index.whole()).toBeNull();
  const r = await snapshotDir(ws, store, index);
  expect(r.bytesRead).toBe(r.bytes);
});

it('does not reuse a manifest for a tree with more entries than recorded, however deep', async () => {
  const first = await indexed();
  mkdirSync(join(ws, 'a/b/c/d'), { recursive: true });
  const r = await indexed();
  expect(r.manifestId).not.toBe(first.manifestId);
  expect(r.files).toBe(first.files + 4);
});
