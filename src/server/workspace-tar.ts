/**
 * @module A snapshot as a tar stream (POSIX ustar, with a PAX extended header for a path or link
 * target that does not fit ustar's fields): directories, files with their mode and mtime, and
 * symlinks, in the manifest's order. Generated as it is read: one chunk is held at a time, every
 * chunk verified against its address (a missing or corrupt one ends the stream with an error).
 */
import { Readable } from 'node:stream';
import type { ChunkSource, ManifestEntry } from '../cas/index.js';
import { decodeVerified, MissingObject, readManifest } from '../cas/index.js';

const BLOCK = 512;

function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width - 1, '0')}\0`;
}

function header(name: string, mode: number, size: number, mtimeMs: number, type: string, link: string): Buffer {
  const h = Buffer.alloc(BLOCK, 0);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(mode & 0o7777, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii');
  h.write(octal(0, 8), 116, 'ascii');
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(Math.max(0, Math.floor(mtimeMs / 1000)), 12), 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write(type, 156, 'ascii');
  h.write(link, 157, 100, 'utf8');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

function pad(size: number): Buffer {
  const r = size % BLOCK;
  return Buffer.alloc(r === 0 ? 0 : BLOCK - r, 0);
}

/** A PAX record `"<len> key=value\n"`, whose length counts itself. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

function* entryHeaders(e: ManifestEntry): Generator<Buffer> {
  const name = e.type === 'dir' ? `${e.path}/` : e.path;
  const link = e.type === 'symlink' ? (e.target ?? '') : '';
  const long = Buffer.byteLength(name) > 100 || Buffer.byteLength(link) > 100;
  if (long) {
    const pax = Buffer.from(paxRecord('path', name) + (link ? paxRecord('linkpath', link) : ''), 'utf8');
    yield header('PaxHeader', 0o644, pax.length, e.mtimeMs, 'x', '');
    yield pax;
    yield pad(pax.length);
  }
  const type = e.type === 'dir' ? '5' : e.type === 'symlink' ? '2' : '0';
  const size = e.type === 'file' ? e.size : 0;
  yield header(long ? name.slice(0, 100) : name, e.mode, size, e.mtimeMs, type, long ? '' : link);
}

async function* tarOf(source: ChunkSource, manifestId: string): AsyncGenerator<Buffer> {
  for await (const e of readManifest(source, manifestId)) {
    yield* entryHeaders(e);
    if (e.type !== 'file') continue;
    let sent = 0;
    for (const id of e.chunks ?? []) {
      const stored = await source.get(id);
      if (!stored) throw new MissingObject(id);
      const plain = Buffer.from(decodeVerified(id, stored));
      sent += plain.length;
      yield plain;
    }
    if (sent !== e.size) throw new Error(`${e.path}: its chunks hold ${sent} bytes, the manifest says ${e.size}`);
    yield pad(e.size);
  }
  yield Buffer.alloc(BLOCK * 2, 0);
}

/** The snapshot `manifestId` as a tar byte stream. */
export function snapshotTar(source: ChunkSource, manifestId: string): Readable {
  return Readable.from(tarOf(source, manifestId), { objectMode: false });
}
