/**
 * @module Manifests: a snapshot's entry list, stored as newline-delimited JSON (one
 * `ManifestEntry` a line, in walk order), chunked like any file, plus a small content-addressed
 * root object (`ManifestRoot`) naming those chunks. Identical trees give identical manifest ids,
 * and a manifest that changes in a few entries shares its other chunks with the previous one.
 * Entries are checked when read: a path that could leave the restore root is refused.
 */

import { Chunker, type ChunkSizes, DEFAULT_CHUNK_SIZES } from './chunker.js';
import { type Codec, DEFAULT_CODEC, decodeVerified, encodeSync, hashId, isId } from './codec.js';
import type { ChunkSource, ManifestEntry, ManifestRoot } from './types.js';

/** Thrown for a manifest that is not one (bad JSON, unknown fields, unsafe path). */
export class BadManifest extends Error {
  constructor(manifestId: string, reason: string) {
    super(`manifest ${manifestId} is invalid: ${reason}`);
    this.name = 'BadManifest';
  }
}

/** True for a relative '/'-separated path with no empty, '.' or '..' segment and no NUL. */
export function isSafeRelPath(p: string): boolean {
  if (p.length === 0 || p.startsWith('/') || p.includes('\0')) return false;
  for (const seg of p.split('/')) if (seg === '' || seg === '.' || seg === '..') return false;
  return true;
}

const ENC = new TextEncoder();

/** Serialises one entry as a manifest line (with its trailing newline). */
export function entryLine(e: ManifestEntry): Uint8Array {
  const o: Record<string, unknown> = { path: e.path, type: e.type, mode: e.mode, size: e.size, mtimeMs: e.mtimeMs };
  if (e.type === 'file') o.chunks = e.chunks ?? [];
  if (e.type === 'symlink') o.target = e.target ?? '';
  return ENC.encode(`${JSON.stringify(o)}\n`);
}

/** Parses and checks one manifest line. */
export function parseEntry(manifestId: string, line: string): ManifestEntry {
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    throw new BadManifest(manifestId, `a line is not JSON: ${line.slice(0, 80)}`);
  }
  const e = o as Partial<ManifestEntry>;
  const ok =
    typeof o === 'object' &&
    o !== null &&
    typeof e.path === 'string' &&
    isSafeRelPath(e.path) &&
    (e.type === 'file' || e.type === 'dir' || e.type === 'symlink') &&
    Number.isInteger(e.mode) &&
    (e.mode as number) >= 0 &&
    (e.mode as number) <= 0o7777 &&
    Number.isSafeInteger(e.size) &&
    (e.size as number) >= 0 &&
    Number.isFinite(e.mtimeMs) &&
    (e.type !== 'file' || (Array.isArray(e.chunks) && e.chunks.every((c) => typeof c === 'string' && isId(c)))) &&
    (e.type !== 'symlink' || (typeof e.target === 'string' && !e.target.includes('\0')));
  if (!ok) throw new BadManifest(manifestId, `bad entry: ${line.slice(0, 200)}`);
  return e as ManifestEntry;
}

/** Sink for manifest chunks: called with each chunk's id and plain bytes, in order. */
export type ChunkEmitter = (id: string, plain: Uint8Array) => Promise<void>;

/** Builds a manifest entry by entry; `finish` returns the root's id and its stored form. */
export class ManifestWriter {
  private readonly chunker: Chunker;
  private readonly ids: string[] = [];
  private files = 0;
  private bytes = 0;
  private buf: Uint8Array[] = [];
  private bufLen = 0;

  constructor(
    private readonly emit: ChunkEmitter,
    private readonly codec: Codec = DEFAULT_CODEC,
    sizes: ChunkSizes = DEFAULT_CHUNK_SIZES,
  ) {
    this.chunker = new Chunker(sizes);
  }

  async add(e: ManifestEntry): Promise<void> {
    this.files++;
    if (e.type === 'file') this.bytes += e.size;
    const line = entryLine(e);
    this.buf.push(line);
    this.bufLen += line.length;
    if (this.bufLen >= 256 * 1024) await this.pushBuffered();
  }

  private async pushBuffered(): Promise<void> {
    if (!this.bufLen) return;
    const block = Buffer.concat(this.buf, this.bufLen);
    this.buf = [];
    this.bufLen = 0;
    for (const c of this.chunker.push(block)) await this.out(c);
  }

  private async out(c: Uint8Array): Promise<void> {
    const id = hashId(c);
    this.ids.push(id);
    await this.emit(id, c);
  }

  async finish(): Promise<{ id: string; root: ManifestRoot; stored: Uint8Array }> {
    await this.pushBuffered();
    const last = this.chunker.end();
    if (last) await this.out(last);
    const root: ManifestRoot = {
      v: 1,
      kind: 'marionette-manifest',
      files: this.files,
      bytes: this.bytes,
      chunks: this.ids,
    };
    const plain = ENC.encode(JSON.stringify(root));
    return { id: hashId(plain), root, stored: encodeSync(plain, this.codec) };
  }
}

/** Missing or corrupt object met while reading a manifest or a file's chunks. */
export class MissingObject extends Error {
  constructor(readonly id: string) {
    super(`object ${id} is missing from the store`);
    this.name = 'MissingObject';
  }
}

/** Reads, verifies and parses a manifest root. */
export async function readManifestRoot(source: ChunkSource, manifestId: string): Promise<ManifestRoot> {
  if (!isId(manifestId)) throw new BadManifest(manifestId, 'not a content address');
  const stored = await source.get(manifestId);
  if (!stored) throw new MissingObject(manifestId);
  const plain = decodeVerified(manifestId, stored);
  let root: ManifestRoot;
  try {
    root = JSON.parse(Buffer.from(plain).toString('utf8')) as ManifestRoot;
  } catch {
    throw new BadManifest(manifestId, 'root is not JSON');
  }
  if (
    root?.v !== 1 ||
    root.kind !== 'marionette-manifest' ||
    !Array.isArray(root.chunks) ||
    !root.chunks.every((c) => typeof c === 'string' && isId(c)) ||
    !Number.isSafeInteger(root.files) ||
    !Number.isSafeInteger(root.bytes)
  )
    throw new BadManifest(manifestId, 'not a manifest root');
  return root;
}

/**
 * The entries of a manifest in order, streamed: one manifest chunk is held at a time (plus the
 * next one being fetched), so a manifest of millions of entries reads in bounded memory.
 */
export async function* readManifest(source: ChunkSource, manifestId: string): AsyncGenerator<ManifestEntry> {
  const root = await readManifestRoot(source, manifestId);
  const fetch = async (id: string): Promise<Uint8Array> => {
    const stored = await source.get(id);
    if (!stored) throw new MissingObject(id);
    return decodeVerified(id, stored);
  };
  let carry = '';
  const dec = new TextDecoder('utf-8', { fatal: true });
  let next = root.chunks.length ? fetch(root.chunks[0] as string) : null;
  // Keep the prefetch's rejection from being reported as unhandled before it is awaited.
  next?.catch(() => undefined);
  for (let i = 0; i < root.chunks.length; i++) {
    const plain = await (next as Promise<Uint8Array>);
    next = i + 1 < root.chunks.length ? fetch(root.chunks[i + 1] as string) : null;
    next?.catch(() => undefined);
    let text: string;
    try {
      text = carry + dec.decode(plain, { stream: true });
    } catch {
      throw new BadManifest(manifestId, 'not UTF-8');
    }
    const lines = text.split('\n');
    carry = lines.pop() ?? '';
    for (const line of lines) if (line) yield parseEntry(manifestId, line);
  }
  carry += dec.decode();
  if (carry) throw new BadManifest(manifestId, 'the last line is cut short');
}
