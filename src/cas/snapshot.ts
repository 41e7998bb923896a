/**
 * @module `snapshotDir`: walks a directory (depth-first, names sorted, symlinks never followed),
 * chunks every regular file, sends the chunks the store lacks through an `Uploader`, writes the
 * manifest, and puts the manifest root last, so a manifest id that was returned always names
 * data that is in the store. With an index (index-file.ts), a file whose size, mtime, ctime and
 * inode are unchanged is not read again: its recorded chunk ids are confirmed with the store in
 * batches instead (and the file is read after all if any is gone). When the index also finds every
 * directory and symlink as recorded, and no entry more or less, the previous manifest is reused
 * whole: one walk of `lstat` calls and one `has` for its root (see `unchangedSince`). Sockets, FIFOs and devices are
 * skipped. Memory stays bounded: a window of entries in flight, 1 MiB reads for large files, and
 * the uploader's batches.
 */
import {
  closeSync,
  constants as fsc,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  readFileSync,
  type Stats,
} from 'node:fs';
import { lstat, open, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidRequest } from '../core/errors.js';
import { Chunker, type ChunkSizes, chunkAll, DEFAULT_CHUNK_SIZES } from './chunker.js';
import { type Codec, DEFAULT_CODEC, hashId } from './codec.js';
import { ManifestWriter } from './manifest.js';
import { RESTORE_MARKER, STAGING_PREFIX } from './restore.js';
import type {
  ChunkSink,
  FileStamp,
  ManifestEntry,
  SnapshotOptions,
  SnapshotResult,
  WorkspaceIndexLike,
} from './types.js';
import { Uploader } from './upload.js';

/** Options beyond the public ones: codec and chunk sizes (the benchmark compares choices). */
export interface SnapshotTuning {
  codec?: Codec;
  sizes?: ChunkSizes;
  /** Entries in flight at once (default 32). */
  window?: number;
}

const BLOCK = 1024 * 1024;

interface Walked {
  rel: string;
  abs: string;
  st: Stats;
}

/**
 * Depth-first walk, names sorted. Directory reads and stats are synchronous: each is microseconds
 * on a local filesystem, less than the hop to libuv's thread pool (bench/README.md); the snapshot
 * yields to the event loop between entries.
 */
async function* walk(root: string, rel: string): AsyncGenerator<Walked> {
  const names = readdirSync(rel ? join(root, rel) : root).sort();
  for (const name of names) {
    if (!rel && (name === RESTORE_MARKER || name.startsWith(STAGING_PREFIX))) continue;
    const r = rel ? `${rel}/${name}` : name;
    const abs = join(root, r);
    const st = lstatSync(abs, { throwIfNoEntry: false });
    if (!st) continue; // removed while we walk
    yield { rel: r, abs, st };
    if (st.isDirectory()) yield* walk(root, r);
  }
}

function stampOf(st: Stats): FileStamp {
  return { size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino };
}

function sameStamp(a: FileStamp, b: FileStamp): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.ino === b.ino;
}

/**
 * Whether `dir` holds exactly the entries the index recorded, each with its stamp: a walk of
 * `lstat` calls that stops at the first difference. Yields to the event loop every 1,000 entries.
 */
async function unchangedSince(dir: string, index: WorkspaceIndexLike, entries: number): Promise<boolean> {
  if (!index.matches) return false;
  let n = 0;
  for await (const w of walk(dir, '')) {
    const kind = w.st.isDirectory() ? 'd' : w.st.isSymbolicLink() ? 'l' : w.st.isFile() ? 'f' : null;
    if (!kind) continue; // not in a manifest
    if (++n > entries || !index.matches(w.rel, kind, stampOf(w.st))) return false;
    if (n % 1000 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return n === entries;
}

/** Whether the store has a manifest's root and the given chunk ids (asked in large batches). */
async function allPresent(sink: ChunkSink, m: { manifestId: string; chunks: string[] }): Promise<boolean> {
  const ids = [m.manifestId, ...new Set(m.chunks)];
  for (let i = 0; i < ids.length; i += 4096) {
    const present = await sink.has(ids.slice(i, i + 4096));
    if (present.includes(false)) return false;
  }
  return true;
}

/** Reads a file's chunks into the uploader; returns the ids, the bytes read and whether the file held still. */
async function readFileChunks(
  w: Walked,
  up: Uploader,
  sizes: ChunkSizes,
): Promise<{ ids: string[]; size: number; stable: boolean }> {
  const ids: string[] = [];
  let size = 0;
  const take = async (c: Uint8Array) => {
    const id = hashId(c);
    ids.push(id);
    await up.add(id, c);
  };
  let after: Stats;
  if (w.st.size <= BLOCK) {
    const fd = openSync(w.abs, fsc.O_RDONLY | fsc.O_NOFOLLOW);
    let data: Buffer;
    try {
      data = readFileSync(fd);
      after = fstatSync(fd);
    } finally {
      closeSync(fd);
    }
    size = data.length;
    for (const c of chunkAll(data, sizes)) await take(c);
  } else {
    const fh = await open(w.abs, fsc.O_RDONLY | fsc.O_NOFOLLOW);
    try {
      const chunker = new Chunker(sizes);
      for (;;) {
        const buf = Buffer.allocUnsafe(BLOCK);
        const { bytesRead } = await fh.read(buf, 0, BLOCK, null);
        if (bytesRead === 0) break;
        size += bytesRead;
        for (const c of chunker.push(buf.subarray(0, bytesRead))) await take(c);
      }
      const last = chunker.end();
      if (last) await take(last);
      after = await fh.stat();
    } finally {
      await fh.close();
    }
  }
  return { ids, size, stable: sameStamp(stampOf(w.st), stampOf(after)) && size === w.st.size };
}

/**
 * Snapshots `dir` into `sink`. Returns the manifest id and counts; the manifest root is put only
 * after every chunk it names is stored.
 *
 * @example
 *   const store = new FsBackend(join(home, 'cas'));
 *   const index = await WorkspaceIndex.load(indexFile);
 *   const snap = await snapshotDir('/work/ws', store, index);
 *   await index.save(indexFile, snap.manifestId);
 */
export async function snapshotDir(
  dir: string,
  sink: ChunkSink,
  index?: WorkspaceIndexLike,
  opts: SnapshotOptions & SnapshotTuning = {},
): Promise<SnapshotResult> {
  const sizes = opts.sizes ?? DEFAULT_CHUNK_SIZES;
  const codec = opts.codec ?? DEFAULT_CODEC;
  const windowSize = opts.window ?? 32;
  const rootSt = await lstat(dir).catch(() => null);
  if (!rootSt?.isDirectory()) throw new InvalidRequest(`cannot snapshot ${dir}: not a directory`);
  if (await lstat(join(dir, RESTORE_MARKER)).catch(() => null))
    throw new InvalidRequest(`cannot snapshot ${dir}: a restore into it did not finish (${RESTORE_MARKER} is there)`);

  // Nothing changed since the snapshot the index describes: that manifest is this snapshot, once
  // the store confirms its root and every chunk its files name (a store that lost one is healed by
  // the full path below, which reads that file again).
  const prev = index?.whole?.();
  if (index && prev && (await unchangedSince(dir, index, prev.entries)) && (await allPresent(sink, prev))) {
    if (opts.signal?.aborted) throw opts.signal.reason ?? new Error('snapshot aborted');
    index.keepAll?.();
    opts.onProgress?.({ files: prev.entries, bytes: prev.bytes, bytesNew: 0 });
    return {
      manifestId: prev.manifestId,
      files: prev.entries,
      bytes: prev.bytes,
      bytesNew: 0,
      bytesRead: 0,
      filesUnchanged: prev.files,
    };
  }

  const up = new Uploader(sink, { batchSize: opts.batchSize ?? 256, codec });
  const manifest = new ManifestWriter((id, plain) => up.add(id, plain), codec, sizes);
  let bytesRead = 0;
  let filesUnchanged = 0;
  let done = 0;
  let doneBytes = 0;
  let lastProgress = 0;
  const progress = (force: boolean) => {
    if (!opts.onProgress) return;
    const now = Date.now();
    if (!force && now - lastProgress < 250) return;
    lastProgress = now;
    opts.onProgress({ files: done, bytes: doneBytes, bytesNew: up.bytesNew });
  };

  // Index hits wait here until one `has` call confirms a batch of them (`sent` once it is asked).
  interface Hit {
    ids: string[];
    resolve: (ok: boolean | 'stopped') => void;
    sent: boolean;
  }
  let hits: Hit[] = [];
  let hitIds = 0;
  const confirmHits = async () => {
    const batch = hits;
    hits = [];
    for (const h of batch) h.sent = true;
    hitIds = 0;
    if (!batch.length) return;
    const present = await up.confirm(batch.flatMap((h) => h.ids));
    let k = 0;
    for (const h of batch) {
      let ok = true;
      for (let j = 0; j < h.ids.length; j++) ok = present[k++] === true && ok;
      h.resolve(ok);
    }
  };

  let reading = 0;
  const readSlots: (() => void)[] = [];
  const fileEntry = async (w: Walked, mode: number): Promise<ManifestEntry> => {
    const stamp = stampOf(w.st);
    const known = index?.lookup(w.rel, stamp);
    if (known) {
      const ok = await new Promise<boolean | 'stopped'>((resolve) => {
        hits.push({ ids: known, resolve, sent: false });
        hitIds += known.length;
      });
      if (ok === 'stopped') throw new Error('snapshot stopped');
      if (ok) {
        filesUnchanged++;
        index?.record(w.rel, stamp, known);
        return { path: w.rel, type: 'file', mode, size: w.st.size, mtimeMs: Math.trunc(w.st.mtimeMs), chunks: known };
      }
    }
    // At most `windowSize` files are read at once, also when hits the store could not confirm
    // turn into reads (memory stays bounded whatever the number of entries in flight).
    while (reading >= windowSize) await new Promise<void>((resolve) => readSlots.push(resolve));
    reading++;
    let r: Awaited<ReturnType<typeof readFileChunks>>;
    try {
      r = await readFileChunks(w, up, sizes);
    } finally {
      reading--;
      readSlots.shift()?.();
    }
    bytesRead += r.size;
    if (r.stable) index?.record(w.rel, stamp, r.ids);
    return { path: w.rel, type: 'file', mode, size: r.size, mtimeMs: Math.trunc(w.st.mtimeMs), chunks: r.ids };
  };

  // Entries in order. Those that may read a file are bounded by the window (memory); index hits
  // hold nothing but ids, so up to a batch of them more wait to be confirmed together: one `has`
  // call per batch, not one per file (the no-change snapshot spent its time in those calls).
  const inflight: { job: Promise<ManifestEntry>; hit?: Hit; reads: boolean }[] = [];
  let readers = 0;
  const settleHead = async () => {
    const head = inflight.shift() as (typeof inflight)[number];
    if (head.hit && !head.hit.sent) await confirmHits();
    if (head.reads) readers--;
    const e = await head.job;
    await manifest.add(e);
    done++;
    if (e.type === 'file') doneBytes += e.size;
    progress(false);
  };

  try {
    for await (const w of walk(dir, '')) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? new Error('snapshot aborted');
      const mode = w.st.mode & 0o7777;
      const mtimeMs = Math.trunc(w.st.mtimeMs);
      let job: Promise<ManifestEntry>;
      const pendingBefore = hits.length;
      if (w.st.isDirectory()) {
        index?.recordEntry?.(w.rel, 'd', stampOf(w.st));
        job = Promise.resolve({ path: w.rel, type: 'dir', mode, size: 0, mtimeMs });
      } else if (w.st.isSymbolicLink()) {
        const target = await readlink(w.abs);
        index?.recordEntry?.(w.rel, 'l', stampOf(w.st));
        job = Promise.resolve({ path: w.rel, type: 'symlink', mode, size: Buffer.byteLength(target), mtimeMs, target });
      } else if (w.st.isFile()) job = fileEntry(w, mode);
      else continue;
      job.catch(() => undefined); // awaited in order by settleHead
      const hit = hits.length > pendingBefore ? hits[hits.length - 1] : undefined;
      const reads = !hit && w.st.isFile();
      inflight.push({ job, ...(hit ? { hit } : {}), reads });
      if (reads) readers++;
      if (hitIds >= (opts.batchSize ?? 256)) await confirmHits();
      while (readers >= windowSize || inflight.length >= windowSize + (opts.batchSize ?? 256)) await settleHead();
    }
    while (inflight.length) await settleHead();
    const root = await manifest.finish();
    await up.drain();
    const [present] = await sink.has([root.id]);
    if (!present) {
      await sink.put(root.id, root.stored);
      up.bytesNew += root.stored.length;
    }
    progress(true);
    return {
      manifestId: root.id,
      files: root.root.files,
      bytes: root.root.bytes,
      bytesNew: up.bytesNew,
      bytesRead,
      filesUnchanged,
    };
  } finally {
    // Release index hits still waiting (after an error above) without reading or sending anything more.
    for (const h of hits) h.resolve('stopped');
    up.stop();
  }
}
