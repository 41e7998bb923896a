/**
 * @module `restoreDir`: rebuilds a snapshot into a directory, verifying every chunk against its
 * address as it is read. The tree is built in a staging directory and moved into place only when
 * every file is written, so a failed or interrupted restore never leaves a directory that looks
 * complete:
 *
 * - `dir` absent: staging is a sibling (`<dir>.cas-restore-<rand>`), renamed to `dir` at the end;
 * - `dir` an empty directory (a volume mount point, say): staging is `dir/.cas-restore-<rand>`;
 *   a marker file `dir/.cas-restore-incomplete` is written before its children are moved up and
 *   removed after, so a crash during the move leaves the marker (snapshotDir refuses such a tree);
 * - `dir` not empty: refused before anything is read.
 *
 * A missing or corrupt chunk fails with a `RestoreFailed` naming the snapshot, the path and the
 * chunk; the staging directory is removed.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, constants as fsc, futimesSync, openSync, writeSync } from 'node:fs';
import {
  chmod,
  lutimes,
  mkdir,
  open,
  readdir,
  rename,
  rm,
  rmdir,
  stat,
  symlink,
  unlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { InvalidRequest, MarionetteError } from '../core/errors.js';
import { CorruptObject, decodeVerified } from './codec.js';
import { BadManifest, MissingObject, readManifest } from './manifest.js';
import type { ChunkSource, ManifestEntry, RestoreOptions, RestoreResult } from './types.js';

/** Files up to this size are written with synchronous calls. */
const SMALL_FILE = 1024 * 1024;

/** Present in a directory while a restore is moving its files in (see the module comment). */
export const RESTORE_MARKER = '.cas-restore-incomplete';
/** Name prefix of staging directories. */
export const STAGING_PREFIX = '.cas-restore-';

/** A restore that could not complete: details name the snapshot, the path and the chunk. */
export class RestoreFailed extends MarionetteError {
  constructor(
    message: string,
    details: { snapshot: string; path?: string; chunk?: string; reason: 'missing' | 'corrupt' | 'invalid' | 'io' },
  ) {
    super('internal', message, { details, hint: 'the snapshot cannot be restored as it is; restore an earlier one' });
  }
}

/**
 * Seconds for utimes from integer milliseconds: half a microsecond is added so the conversion to
 * a timespec never rounds down into the previous millisecond (1.511 s is 1.51099999… in binary).
 */
function secs(ms: number): number {
  return (ms + 0.0005) / 1000;
}

async function isEmptyDir(p: string): Promise<boolean | null> {
  try {
    // Followed: a workspace may be a link to its directory (a warm local runner's is).
    const st = await stat(p);
    if (!st.isDirectory()) return false;
    return (await readdir(p)).length === 0;
  } catch (e: unknown) {
    if ((e as { code?: string }).code === 'ENOENT') return null;
    throw e;
  }
}

/**
 * Restores snapshot `manifestId` from `source` into `dir` (absent or empty).
 *
 * @example
 *   await restoreDir(snap.manifestId, new FsBackend(join(home, 'cas')), '/work/ws');
 */
export async function restoreDir(
  manifestId: string,
  source: ChunkSource,
  dir: string,
  opts: RestoreOptions = {},
): Promise<RestoreResult> {
  const state = await isEmptyDir(dir);
  if (state === false) throw new InvalidRequest(`cannot restore into ${dir}: it is not an empty directory`);
  const tag = randomBytes(6).toString('hex');
  const staging =
    state === null
      ? join(dirname(dir), `${basename(dir)}${STAGING_PREFIX}${tag}`)
      : join(dir, `${STAGING_PREFIX}${tag}`);
  await mkdir(staging, { recursive: false, mode: 0o700 });
  try {
    const result = await fill(manifestId, source, staging, opts);
    if (state === null) await rename(staging, dir);
    else {
      await writeFile(join(dir, RESTORE_MARKER), `${manifestId}\n`);
      for (const name of await readdir(staging)) await rename(join(staging, name), join(dir, name));
      await rmdir(staging);
      await unlink(join(dir, RESTORE_MARKER));
    }
    return result;
  } catch (e: unknown) {
    await rm(staging, { recursive: true, force: true }).catch(() => undefined);
    throw e;
  }
}

async function fill(
  manifestId: string,
  source: ChunkSource,
  root: string,
  opts: RestoreOptions,
): Promise<RestoreResult> {
  const concurrency = opts.concurrency ?? 8;
  const dirs: ManifestEntry[] = [];
  const dirPaths = new Set<string>();
  let files = 0;
  let bytes = 0;
  let lastProgress = 0;
  const inflight = new Set<Promise<void>>();
  let failure: unknown;

  const fail = (e: unknown, path: string | undefined): never => {
    if (e instanceof RestoreFailed) throw e;
    const where = path === undefined ? '' : ` at ${path}`;
    if (e instanceof MissingObject)
      throw new RestoreFailed(`snapshot ${manifestId}: chunk ${e.id}${where} is missing from the store`, {
        snapshot: manifestId,
        ...(path === undefined ? {} : { path }),
        chunk: e.id,
        reason: 'missing',
      });
    if (e instanceof CorruptObject)
      throw new RestoreFailed(`snapshot ${manifestId}: chunk ${e.id}${where} is corrupt (${e.message})`, {
        snapshot: manifestId,
        ...(path === undefined ? {} : { path }),
        chunk: e.id,
        reason: 'corrupt',
      });
    if (e instanceof BadManifest)
      throw new RestoreFailed(`snapshot ${manifestId}: ${e.message}`, { snapshot: manifestId, reason: 'invalid' });
    throw e;
  };

  const fetch = (id: string, path: string): Promise<Uint8Array> =>
    source.get(id).then(
      (stored) => {
        if (!stored) fail(new MissingObject(id), path);
        try {
          return decodeVerified(id, stored as Uint8Array);
        } catch (err: unknown) {
          return fail(err, path);
        }
      },
      (err: unknown) => fail(err, path),
    );
  const checkSize = (e: ManifestEntry, written: number) => {
    if (written !== e.size)
      throw new RestoreFailed(`snapshot ${manifestId}: ${e.path} has ${written} bytes, the manifest says ${e.size}`, {
        snapshot: manifestId,
        path: e.path,
        reason: 'invalid',
      });
  };
  const CREATE = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW;

  const writeFileEntry = async (e: ManifestEntry): Promise<void> => {
    const abs = join(root, e.path);
    const chunks = e.chunks ?? [];
    if (e.size <= SMALL_FILE) {
      // Small files: chunks fetched together, then written with synchronous calls (a hop to the
      // thread pool per call costs more than the call; bench/README.md).
      const parts = await Promise.all(chunks.map((id) => fetch(id, e.path)));
      checkSize(
        e,
        parts.reduce((a, p) => a + p.length, 0),
      );
      const fd = openSync(abs, CREATE, 0o600);
      try {
        for (const p of parts) {
          let off = 0;
          while (off < p.length) off += writeSync(fd, p, off, p.length - off);
        }
        fchmodSync(fd, e.mode);
        futimesSync(fd, secs(e.mtimeMs), secs(e.mtimeMs));
      } finally {
        closeSync(fd);
      }
    } else {
      const fh = await open(abs, CREATE, 0o600);
      try {
        // Fetch one chunk ahead of the one being written.
        let next = chunks.length ? fetch(chunks[0] as string, e.path) : null;
        next?.catch(() => undefined);
        let written = 0;
        for (let i = 0; i < chunks.length; i++) {
          const plain = await (next as Promise<Uint8Array>);
          next = i + 1 < chunks.length ? fetch(chunks[i + 1] as string, e.path) : null;
          next?.catch(() => undefined);
          await fh.write(plain, 0, plain.length, written);
          written += plain.length;
        }
        checkSize(e, written);
        await fh.chmod(e.mode);
        await fh.utimes(secs(e.mtimeMs), secs(e.mtimeMs));
      } finally {
        await fh.close();
      }
    }
    files++;
    bytes += e.size;
    if (opts.onProgress && Date.now() - lastProgress > 250) {
      lastProgress = Date.now();
      opts.onProgress({ files, bytes });
    }
  };

  try {
    for await (const e of readManifest(source, manifestId)) {
      if (failure !== undefined) throw failure;
      if (opts.signal?.aborted) throw opts.signal.reason ?? new Error('restore aborted');
      const slash = e.path.lastIndexOf('/');
      // Every entry's parent is the root or a directory of this manifest, met before it (never a
      // symlink, which could lead the write outside the restore root).
      if (slash > 0 && !dirPaths.has(e.path.slice(0, slash)))
        throw new BadManifest(manifestId, `${e.path} comes before its directory or lies under a non-directory`);
      const abs = join(root, e.path);
      if (e.type === 'dir') {
        dirPaths.add(e.path);
        await mkdir(abs, { mode: 0o700 });
        dirs.push(e);
        files++;
      } else if (e.type === 'symlink') {
        await symlink(e.target ?? '', abs);
        await lutimes(abs, secs(e.mtimeMs), secs(e.mtimeMs)).catch(() => undefined);
        files++;
      } else {
        const p = writeFileEntry(e).catch((err: unknown) => {
          failure ??= err;
        });
        inflight.add(p);
        void p.finally(() => inflight.delete(p));
        while (inflight.size >= concurrency) await Promise.race(inflight);
      }
    }
    await Promise.all(inflight);
    if (failure !== undefined) throw failure;
  } catch (e: unknown) {
    await Promise.all(inflight);
    fail(e, undefined);
  }
  // Directory modes and times last, deepest first (a read-only directory would refuse its contents).
  for (let i = dirs.length - 1; i >= 0; i--) {
    const d = dirs[i] as ManifestEntry;
    const abs = join(root, d.path);
    await chmod(abs, d.mode);
    await utimes(abs, secs(d.mtimeMs), secs(d.mtimeMs));
  }
  opts.onProgress?.({ files, bytes });
  return { files, bytes };
}
