/**
 * @module Content addresses and the stored form of an object. An address is the lowercase hex
 * SHA-256 of the plain bytes. The stored form is one header byte naming the compression, then the
 * payload: 0 = stored as is, 1 = raw DEFLATE (zlib), 2 = Brotli. Readers accept every kind, so
 * writers may change their choice without a migration. A chunk that does not shrink by at least
 * 1/32 is stored as is (binaries, already-compressed files), so reading it back costs nothing; a
 * large chunk whose first 4 KiB do not shrink is not compressed at all.
 *
 * Why SHA-256 and zlib: both ship in Node itself (OpenSSL and zlib), so the bundled runner agent
 * needs no native addon inside any sandbox; the numbers behind the choice are in bench/README.md.
 */
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import {
  brotliCompress,
  brotliCompressSync,
  brotliDecompressSync,
  deflateRaw,
  deflateRawSync,
  inflateRawSync,
  constants as zc,
} from 'node:zlib';

export type CodecName = 'none' | 'deflate' | 'brotli';

export interface Codec {
  name: CodecName;
  /** deflate: 1..9; brotli: 0..11. Ignored for none. */
  level: number;
}

/** The default: raw DEFLATE at level 1 (see bench/README.md, "Choosing the codec"). */
export const DEFAULT_CODEC: Codec = { name: 'deflate', level: 1 };

/** Chunks up to this size are compressed on the calling thread (bench/README.md). */
const SYNC_ENCODE_MAX = 16 * 1024;

const RAW = 0;
const DEFLATE = 1;
const BROTLI = 2;

const deflateRawAsync = promisify(deflateRaw);
const brotliAsync = promisify(brotliCompress);

/** A valid content address: 64 lowercase hex digits. */
export const ID_PATTERN = /^[0-9a-f]{64}$/;

export function isId(id: string): boolean {
  return ID_PATTERN.test(id);
}

/** The content address of `plain`. */
export function hashId(plain: Uint8Array): string {
  return createHash('sha256').update(plain).digest('hex');
}

function frame(kind: number, payload: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafe(payload.length + 1);
  out[0] = kind;
  out.set(payload, 1);
  return out;
}

function worthIt(plain: Uint8Array, packed: Uint8Array): boolean {
  return packed.length < plain.length - (plain.length >> 5);
}

const PROBE = 4096;

/** Whether the first 4 KiB of `plain` shrink by at least 1/32 at the fastest DEFLATE level. */
function looksCompressible(plain: Uint8Array): boolean {
  const probe = plain.subarray(0, PROBE);
  return deflateRawSync(probe, { level: 1 }).length < probe.length - (probe.length >> 5);
}

/**
 * Encodes `plain` into its stored form. Compression runs on libuv's thread pool, so several calls
 * in flight use several cores.
 */
export async function encode(plain: Uint8Array, codec: Codec = DEFAULT_CODEC): Promise<Uint8Array> {
  if (codec.name === 'none' || plain.length < 64) return frame(RAW, plain);
  // Small chunks: compressing in place costs less than the hop to the thread pool and back.
  if (plain.length <= SYNC_ENCODE_MAX) return encodeSync(plain, codec);
  // Large chunks whose first 4 KiB do not shrink (compressed or random data) are stored as is
  // without compressing the rest: most of such a chunk would be discarded after the work anyway.
  if (!looksCompressible(plain)) return frame(RAW, plain);
  const packed =
    codec.name === 'deflate'
      ? await deflateRawAsync(plain, { level: codec.level })
      : await brotliAsync(plain, {
          params: { [zc.BROTLI_PARAM_QUALITY]: codec.level, [zc.BROTLI_PARAM_SIZE_HINT]: plain.length },
        });
  return worthIt(plain, packed) ? frame(codec.name === 'deflate' ? DEFLATE : BROTLI, packed) : frame(RAW, plain);
}

/** Synchronous `encode` (small objects such as manifest roots). */
export function encodeSync(plain: Uint8Array, codec: Codec = DEFAULT_CODEC): Uint8Array {
  if (codec.name === 'none' || plain.length < 64) return frame(RAW, plain);
  const packed =
    codec.name === 'deflate'
      ? deflateRawSync(plain, { level: codec.level })
      : brotliCompressSync(plain, { params: { [zc.BROTLI_PARAM_QUALITY]: codec.level } });
  return worthIt(plain, packed) ? frame(codec.name === 'deflate' ? DEFLATE : BROTLI, packed) : frame(RAW, plain);
}

/** Why a stored object could not be turned back into the bytes its address names. */
export class CorruptObject extends Error {
  constructor(
    readonly id: string,
    reason: string,
  ) {
    super(`object ${id} is corrupt: ${reason}`);
    this.name = 'CorruptObject';
  }
}

/**
 * Decodes a stored object and verifies it against its address; throws `CorruptObject` when the
 * header is unknown, the payload does not decompress, or the bytes do not hash to `id`.
 */
export function decodeVerified(id: string, stored: Uint8Array): Uint8Array {
  if (stored.length === 0) throw new CorruptObject(id, 'empty object');
  const payload = stored.subarray(1);
  let plain: Uint8Array;
  try {
    switch (stored[0]) {
      case RAW:
        plain = payload;
        break;
      case DEFLATE:
        plain = inflateRawSync(payload);
        break;
      case BROTLI:
        plain = brotliDecompressSync(payload);
        break;
      default:
        throw new CorruptObject(id, `unknown encoding ${stored[0]}`);
    }
  } catch (e: unknown) {
    if (e instanceof CorruptObject) throw e;
    throw new CorruptObject(id, `does not decompress (${e instanceof Error ? e.message : String(e)})`);
  }
  if (hashId(plain) !== id) throw new CorruptObject(id, 'content does not match its address');
  return plain;
}
