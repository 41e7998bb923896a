/**
 * @module The filesystem backend (the embedded default, root `$MARIONETTE_HOME/cas`): objects put
 * one at a time, and large objects of a batch, are one file each under
 * `<root>/objects/<2 hex>/<62 hex>`; the small objects of a batch (`putMany`) go into one pack file
 * under `<root>/packs/` (see fs-packs.ts), so a snapshot of many small files does not create a file
 * per object. A put writes a temporary file under
 * `<root>/tmp/` and renames it into place, so a reader or a crash never sees a partial object; a
 * put or a `has` of an object that exists and is older than `refreshAfterMs` sets its mtime to now
 * (the GC's grace period counts from there). A full disk is an `InsufficientStorage` error and
 * leaves nothing behind.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { InsufficientStorage } from '../core/errors.js';
import { isId } from './codec.js';
import { type PackLoc, PackSet } from './fs-packs.js';
import type { ChunkBackend } from './types.js';

export interface FsBackendOptions {
  /** fsync each object before it is renamed into place (survives an OS crash; slower). Default false. */
  fsync?: boolean;
  /** A present object older than this gets its mtime refreshed by `has`/`put`. Default 1 hour. */
  refreshAfterMs?: number;
}

/** Objects up to this size are written with synchronous calls (see `putSync`). */
const SYNC_PUT_MAX = 1024 * 1024;

/**
 * Objects of a `putMany` batch up to this stored size go into a pack. Every chunk of a file past
 * the chunker's minimum (16 KiB) is larger, so packs hold whole small files and file tails: what a
 * file per object costs most for (bench/README.md).
 */
export const PACK_OBJECT_MAX = 16 * 1024;

function errno(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined;
}

export class FsBackend implements ChunkBackend {
  private readonly objects: string;
  private readonly tmp: string;
  private readonly refreshAfterMs: number;
  private readonly fsync: boolean;
  /** Temporary names: this instance's random tag and a counter (unique across processes and calls). */
  private readonly tag = randomBytes(6).toString('hex');
  private seq = 0;
  private readonly packs: PackSet;

  constructor(
    readonly root: string,
    opts: FsBackendOptions = {},
  ) {
    this.objects = join(root, 'objects');
    this.tmp = join(root, 'tmp');
    this.refreshAfterMs = opts.refreshAfterMs ?? 3_600_000;
    this.fsync = opts.fsync ?? false;
    mkdirSync(this.objects, { recursive: true });
    mkdirSync(this.tmp, { recursive: true });
    this.packs = new PackSet(join(root, 'packs'), this.tmp, this.fsync);
  }

  private path(id: string): string {
    if (!isId(id)) throw new RangeError(`not a content address: ${JSON.stringify(id)}`);
    return join(this.objects, id.slice(0, 2), id.slice(2));
  }

  /**
   * Whether `p` exists (its mtime renewed when old). Synchronous: a stat of a local file is a few
   * microseconds, far less than a hop to the thread pool and back (measured: bench/README.md).
   */
  private present(p: string): boolean {
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st) return false;
    const now = Date.now();
    if (now - st.mtimeMs > this.refreshAfterMs) {
      try {
        utimesSync(p, now / 1000, now / 1000);
      } catch {
        // Removed meanwhile: present a moment ago; the caller's next has/put sees it gone.
      }
    }
    return true;
  }

  /**
   * Packed objects are answered from the packs' index, with one stat per pack (not per object) to
   * see that the pack is still there and renew its time when old; an id found nowhere makes the
   * index look for packs other instances wrote, once per call.
   */
  async has(ids: string[]): Promise<boolean[]> {
    const paths = ids.map((id) => this.path(id));
    const packState = new Map<PackLoc['pack'], boolean>();
    const inPack = (id: string): boolean => {
      const l = this.packs.find(id);
      if (!l) return false;
      let ok = packState.get(l.pack);
      if (ok === undefined) {
        const t = this.packs.mtime(l.pack);
        ok = t !== null && (Date.now() - t <= this.refreshAfterMs || this.packs.touch(l.pack));
        packState.set(l.pack, ok);
      }
      return ok || inPack(id); // a pack that is gone was forgotten: another copy may hold it
    };
    const out = ids.map((id, i) => inPack(id) || this.present(paths[i] as string));
    if (out.includes(false)) {
      this.packs.refresh();
      packState.clear();
      out.forEach((ok, i) => {
        if (!ok) out[i] = inPack(ids[i] as string);
      });
    }
    return out;
  }

  /**
   * Stores a batch: objects up to `PACK_OBJECT_MAX` in one new pack, the others one file each
   * (callers ask `has` first, so the batch is what the store lacks). Resolves once every object is in place.
   */
  async putMany(objects: { id: string; data: Uint8Array }[]): Promise<void> {
    const small = new Map<string, Uint8Array>();
    const large: { id: string; data: Uint8Array }[] = [];
    for (const o of objects) {
      this.path(o.id); // validates the id
      if (o.data.length > PACK_OBJECT_MAX) large.push(o);
      else small.set(o.id, o.data);
    }
    if (small.size) {
      try {
        this.packs.write([...small].map(([id, data]) => ({ id, data })));
      } catch (e: unknown) {
        throw this.mapError(e, [...small.keys()][0] as string);
      }
    }
    for (const o of large) await this.put(o.id, o.data);
  }

  /** Where an object's stored bytes are (a loose file, or a range of a pack), null when absent; for tests and operators. */
  locate(id: string): { file: string; offset: number; length: number } | null {
    const l = this.packs.find(id);
    if (l) return { file: l.pack.file, offset: l.pack.offs[l.i] as number, length: l.pack.lens[l.i] as number };
    const p = this.path(id);
    const st = statSync(p, { throwIfNoEntry: false });
    return st ? { file: p, offset: 0, length: st.size } : null;
  }

  /**
   * Writes the object whether or not it exists (callers ask `has` first; a rename over an existing
   * object replaces identical bytes atomically and renews its time, as `has` would).
   */
  async put(id: string, data: Uint8Array): Promise<void> {
    const dest = this.path(id);
    const tmp = join(this.tmp, `${id}.${this.tag}.${++this.seq}`);
    if (data.length <= SYNC_PUT_MAX) return this.putSync(id, tmp, dest, data);
    try {
      const fh = await open(tmp, 'w', 0o644);
      try {
        await fh.writeFile(data);
        if (this.fsync) await fh.sync();
      } finally {
        await fh.close();
      }
      try {
        await rename(tmp, dest);
      } catch (e: unknown) {
        if (errno(e) !== 'ENOENT') throw e;
        await mkdir(join(this.objects, id.slice(0, 2)), { recursive: true });
        await rename(tmp, dest);
      }
    } catch (e: unknown) {
      await unlink(tmp).catch(() => undefined);
      throw this.mapError(e, id);
    }
  }

  /** Small objects: the same steps without thread-pool hops (each costs more than the write itself). */
  private putSync(id: string, tmp: string, dest: string, data: Uint8Array): void {
    try {
      const fd = openSync(tmp, 'w', 0o644);
      try {
        let off = 0;
        while (off < data.length) off += writeSync(fd, data, off, data.length - off);
        if (this.fsync) fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      try {
        renameSync(tmp, dest);
      } catch (e: unknown) {
        if (errno(e) !== 'ENOENT') throw e;
        mkdirSync(join(this.objects, id.slice(0, 2)), { recursive: true });
        renameSync(tmp, dest);
      }
    } catch (e: unknown) {
      try {
        unlinkSync(tmp);
      } catch {
        // never created
      }
      throw this.mapError(e, id);
    }
  }

  private mapError(e: unknown, id: string): unknown {
    if (errno(e) === 'ENOSPC' || errno(e) === 'EDQUOT')
      return new InsufficientStorage(`the content store at ${this.root} is full: object ${id} was not written`, {
        hint: 'free space on that filesystem (mctl workspaces gc) and try again',
      });
    return e;
  }

  /** Synchronous read: objects are at most a chunk (256 KiB by default), read faster than a hop to the thread pool. */
  async get(id: string): Promise<Uint8Array | null> {
    const p = this.path(id);
    const packed = this.fromPacks(id);
    if (packed) return packed;
    try {
      return readFileSync(p);
    } catch (e: unknown) {
      if (errno(e) !== 'ENOENT') throw e;
    }
    this.packs.refresh(); // written by another instance since this one looked
    return this.fromPacks(id);
  }

  private fromPacks(id: string): Buffer | null {
    for (let l = this.packs.find(id); l; l = this.packs.find(id)) {
      const data = this.packs.read(l);
      if (data) return data;
      // That pack is gone (and forgotten); another may hold a copy.
    }
    return null;
  }

  async delete(ids: string[]): Promise<void> {
    this.packs.remove(ids);
    await Promise.all(
      ids.map((id) =>
        unlink(this.path(id)).catch((e: unknown) => {
          if (errno(e) !== 'ENOENT') throw e;
        }),
      ),
    );
  }

  /** The newest time of any copy (loose file or pack) of each id. */
  async stat(ids: string[]): Promise<(number | null)[]> {
    this.packs.refresh();
    return Promise.all(
      ids.map(async (id) => {
        let t: number | null = null;
        for (let l = this.packs.find(id); l && t === null; l = this.packs.find(id)) t = this.packs.mtime(l.pack);
        const loose = await stat(this.path(id)).then(
          (st) => st.mtimeMs,
          (e: unknown) => {
            if (errno(e) === 'ENOENT') return null;
            throw e;
          },
        );
        return loose === null ? t : Math.max(loose, t ?? 0);
      }),
    );
  }

  async cleanTemporary(beforeMs: number): Promise<void> {
    for (const name of await readdir(this.tmp)) {
      const p = join(this.tmp, name);
      const st = await stat(p).catch(() => null);
      if (st && st.mtimeMs < beforeMs) await unlink(p).catch(() => undefined);
    }
  }

  async *list(): AsyncIterable<{ id: string; mtimeMs: number; size: number }> {
    const fans = (await readdir(this.objects)).filter((d) => /^[0-9a-f]{2}$/.test(d)).sort();
    for (const fan of fans) {
      let names: string[];
      try {
        names = await readdir(join(this.objects, fan));
      } catch (e: unknown) {
        if (errno(e) === 'ENOENT') continue;
        throw e;
      }
      for (const name of names) {
        const id = fan + name;
        if (!isId(id)) continue;
        try {
          const st = await stat(join(this.objects, fan, name));
          yield { id, mtimeMs: st.mtimeMs, size: st.size };
        } catch (e: unknown) {
          if (errno(e) !== 'ENOENT') throw e;
        }
      }
    }
    yield* this.packs.list();
  }

  async close(): Promise<void> {
    this.packs.close();
  }
}
