/**
 * @module Pack files of the filesystem backend: many small objects in one file, so a snapshot of
 * thousands of small files creates tens of files in the store instead of thousands, and a restore
 * reads them with one positioned read each from a file that is already open.
 *
 * A pack is `<root>/packs/<name>.pack`: the objects' stored bytes one after another, then an index
 * (per object: 32 bytes of raw id, a 4-byte big-endian offset, a 4-byte big-endian length), then a
 * 16-byte trailer (4-byte object count, 4 zero bytes, the magic `MRNPACK1`). It is written whole
 * under `<root>/tmp/` and renamed into place, so a pack is either absent or complete: a crash in
 * the middle of a write leaves only a temporary file (the GC's `cleanTemporary` removes it). A
 * pack that does not parse is ignored (its objects read as absent; every read is verified anyway).
 *
 * Every object of a pack shares the pack's modification time: `has` renews it for all of them,
 * which only ever keeps objects longer. Deleting some objects of a pack rewrites the others into
 * a new pack (with the old pack's time, so their age is unchanged) before the old one goes; a
 * crash between the two leaves duplicates, which are harmless. Several instances (processes) may
 * share a root: a pack this instance does not know is loaded when an id is not found, and one that
 * another instance removed is noticed at the next stat or read (an open pack's link count is
 * checked on every read, so a deleted object never reads back).
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

const MAGIC = Buffer.from('MRNPACK1', 'latin1');
const TRAILER = 16;
const ENTRY = 40;
/** Open packs kept for reads. */
const FD_CACHE = 32;

export interface Pack {
  name: string;
  file: string;
  ids: string[];
  offs: Uint32Array;
  lens: Uint32Array;
}

export interface PackLoc {
  pack: Pack;
  i: number;
}

function errno(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined;
}

function writeAll(fd: number, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) off += writeSync(fd, data, off, data.length - off);
}

function readAll(fd: number, len: number, pos: number): Buffer {
  const buf = Buffer.allocUnsafe(len);
  let got = 0;
  while (got < len) {
    const n = readSync(fd, buf, got, len - got, pos + got);
    if (n === 0) throw new Error('pack file ends early');
    got += n;
  }
  return buf;
}

/** Parses a pack's index from its open descriptor; null when it is not a well-formed pack. */
function parse(fd: number, name: string, file: string): Pack | null {
  const size = fstatSync(fd).size;
  if (size < TRAILER) return null;
  const trailer = readAll(fd, TRAILER, size - TRAILER);
  if (!trailer.subarray(8).equals(MAGIC)) return null;
  const n = trailer.readUInt32BE(0);
  const dataEnd = size - TRAILER - n * ENTRY;
  if (dataEnd < 0) return null;
  const idx = readAll(fd, n * ENTRY, dataEnd);
  const pack: Pack = { name, file, ids: new Array(n), offs: new Uint32Array(n), lens: new Uint32Array(n) };
  for (let i = 0; i < n; i++) {
    const at = i * ENTRY;
    const off = idx.readUInt32BE(at + 32);
    const len = idx.readUInt32BE(at + 36);
    if (len === 0 || off + len > dataEnd) return null;
    pack.ids[i] = idx.toString('hex', at, at + 32);
    pack.offs[i] = off;
    pack.lens[i] = len;
  }
  return pack;
}

export class PackSet {
  private readonly packs = new Map<string, Pack>();
  private readonly loc = new Map<string, PackLoc>();
  /** Further copies of an id held in more than one pack (rare: concurrent writers, a crash mid-rewrite). */
  private readonly dups = new Map<string, PackLoc[]>();
  private readonly fds = new Map<string, number>();
  private readonly tag = randomBytes(6).toString('hex');
  private seq = 0;

  constructor(
    private readonly dir: string,
    private readonly tmp: string,
    private readonly fsync: boolean,
  ) {
    mkdirSync(dir, { recursive: true });
    this.refresh();
  }

  find(id: string): PackLoc | undefined {
    return this.loc.get(id);
  }

  /** Every pack holding `id`. */
  private all(id: string): PackLoc[] {
    const first = this.loc.get(id);
    return first ? [first, ...(this.dups.get(id) ?? [])] : [];
  }

  private add(pack: Pack): void {
    this.packs.set(pack.name, pack);
    pack.ids.forEach((id, i) => {
      const l = { pack, i };
      if (!this.loc.has(id)) this.loc.set(id, l);
      else {
        const d = this.dups.get(id);
        if (d) d.push(l);
        else this.dups.set(id, [l]);
      }
    });
  }

  private drop(pack: Pack): void {
    if (this.packs.get(pack.name) !== pack) return;
    this.packs.delete(pack.name);
    const fd = this.fds.get(pack.name);
    if (fd !== undefined) {
      this.fds.delete(pack.name);
      closeSync(fd);
    }
    for (const id of pack.ids) {
      const rest = this.all(id).filter((l) => l.pack !== pack);
      if (rest.length === 0) this.loc.delete(id);
      else this.loc.set(id, rest[0] as PackLoc);
      if (rest.length > 1) this.dups.set(id, rest.slice(1));
      else this.dups.delete(id);
    }
  }

  /** Loads packs written since the last look (by any instance) and forgets packs that are gone. */
  refresh(): void {
    const names = new Set(readdirSync(this.dir).filter((n) => n.endsWith('.pack')));
    for (const p of [...this.packs.values()]) if (!names.has(p.name)) this.drop(p);
    for (const name of names) {
      if (this.packs.has(name)) continue;
      const file = join(this.dir, name);
      let fd: number;
      try {
        fd = openSync(file, 'r');
      } catch (e: unknown) {
        if (errno(e) === 'ENOENT') continue;
        throw e;
      }
      try {
        const pack = parse(fd, name, file);
        if (pack) this.add(pack);
      } finally {
        closeSync(fd);
      }
    }
  }

  /** The pack's modification time now, or null when it is gone (then it is forgotten). */
  mtime(pack: Pack): number | null {
    const st = statSync(pack.file, { throwIfNoEntry: false });
    if (!st) {
      this.drop(pack);
      return null;
    }
    return st.mtimeMs;
  }

  /** Sets the pack's time to now (renews every object in it); false when it is gone. */
  touch(pack: Pack): boolean {
    const now = Date.now() / 1000;
    try {
      utimesSync(pack.file, now, now);
      return true;
    } catch (e: unknown) {
      if (errno(e) !== 'ENOENT') throw e;
      this.drop(pack);
      return false;
    }
  }

  private fd(pack: Pack): number | null {
    let fd = this.fds.get(pack.name);
    if (fd !== undefined) {
      // Re-inserted at the end: the map's order is least recently used first.
      this.fds.delete(pack.name);
      this.fds.set(pack.name, fd);
      return fd;
    }
    try {
      fd = openSync(pack.file, 'r');
    } catch (e: unknown) {
      if (errno(e) !== 'ENOENT') throw e;
      this.drop(pack);
      return null;
    }
    this.fds.set(pack.name, fd);
    if (this.fds.size > FD_CACHE) {
      const [oldest, ofd] = this.fds.entries().next().value as [string, number];
      this.fds.delete(oldest);
      closeSync(ofd);
    }
    return fd;
  }

  /** The object's stored bytes, or null when its pack is gone (removed by this or another instance). */
  read(l: PackLoc): Buffer | null {
    const fd = this.fd(l.pack);
    if (fd === null) return null;
    // An open pack another instance removed still reads: its link count says it is gone.
    if (fstatSync(fd).nlink === 0) {
      this.drop(l.pack);
      return null;
    }
    return readAll(fd, l.pack.lens[l.i] as number, l.pack.offs[l.i] as number);
  }

  /**
   * Writes `objects` as one new pack (temporary file, renamed into place) and makes them findable.
   * `mtimeMs` sets the pack's time (a rewrite keeps the old pack's). Throws the write's error
   * (the caller maps a full disk) after removing the temporary file.
   */
  write(objects: { id: string; data: Uint8Array }[], mtimeMs?: number): void {
    const n = objects.length;
    let size = 0;
    for (const o of objects) size += o.data.length;
    const buf = Buffer.allocUnsafe(size + n * ENTRY + TRAILER);
    let at = 0;
    objects.forEach((o, i) => {
      buf.set(o.data, at);
      const e = size + i * ENTRY;
      buf.write(o.id, e, 32, 'hex');
      buf.writeUInt32BE(at, e + 32);
      buf.writeUInt32BE(o.data.length, e + 36);
      at += o.data.length;
    });
    const t = size + n * ENTRY;
    buf.writeUInt32BE(n, t);
    buf.writeUInt32BE(0, t + 4);
    MAGIC.copy(buf, t + 8);
    const name = `${Date.now().toString(36)}-${this.tag}-${++this.seq}.pack`;
    const tmp = join(this.tmp, name);
    const file = join(this.dir, name);
    try {
      const fd = openSync(tmp, 'w', 0o644);
      try {
        writeAll(fd, buf);
        if (this.fsync) fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      if (mtimeMs !== undefined) utimesSync(tmp, mtimeMs / 1000, mtimeMs / 1000);
      renameSync(tmp, file);
    } catch (e: unknown) {
      try {
        unlinkSync(tmp);
      } catch {
        // never created
      }
      throw e;
    }
    const pack: Pack = { name, file, ids: [], offs: new Uint32Array(n), lens: new Uint32Array(n) };
    let off = 0;
    objects.forEach((o, i) => {
      pack.ids.push(o.id);
      pack.offs[i] = off;
      pack.lens[i] = o.data.length;
      off += o.data.length;
    });
    this.add(pack);
  }

  /**
   * Removes `ids` from every pack holding them: a pack left empty is deleted, any other is
   * rewritten with the objects it keeps (same modification time) before the old one is deleted.
   */
  remove(ids: Iterable<string>): void {
    this.refresh();
    const doomed = new Set<string>();
    const touched = new Set<Pack>();
    for (const id of ids)
      for (const l of this.all(id)) {
        doomed.add(id);
        touched.add(l.pack);
      }
    for (const pack of touched) {
      const mtime = this.mtime(pack);
      if (mtime === null) continue; // another instance removed it already
      const keep: { id: string; data: Uint8Array }[] = [];
      for (let i = 0; i < pack.ids.length; i++) {
        const id = pack.ids[i] as string;
        if (doomed.has(id)) continue;
        const data = this.read({ pack, i });
        if (data === null) break;
        keep.push({ id, data });
      }
      if (!this.packs.has(pack.name)) continue; // vanished while being read
      if (keep.length) this.write(keep, mtime);
      try {
        unlinkSync(pack.file);
      } catch (e: unknown) {
        if (errno(e) !== 'ENOENT') throw e;
      }
      this.drop(pack);
    }
  }

  /** Every packed object with its pack's time and its stored size. */
  *list(): Iterable<{ id: string; mtimeMs: number; size: number }> {
    this.refresh();
    for (const pack of [...this.packs.values()]) {
      const mtimeMs = this.mtime(pack);
      if (mtimeMs === null) continue;
      for (let i = 0; i < pack.ids.length; i++)
        yield { id: pack.ids[i] as string, mtimeMs, size: pack.lens[i] as number };
    }
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}
