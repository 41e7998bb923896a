/**
 * @module Content-defined chunking (FastCDC-style: a gear rolling hash with normalised chunking).
 * A cut point depends only on the bytes just before it, so an insertion or deletion in a file
 * moves the cut points near the edit and leaves every other chunk, and its address, unchanged.
 *
 * The gear hash is 32-bit (`h = (h << 1) + GEAR[byte]`), so bit k depends on the last k + 1
 * bytes; the masks use the high bits (a 32-byte window). Below `avg` the mask has two more bits
 * (cuts are rarer), above it two fewer (cuts are likelier), which narrows the size spread around
 * `avg`. No cut happens before `min`; one always happens at `max`.
 *
 * The gear table is derived from SHA-256 of a fixed label, so every writer (server and runners of
 * any version) cuts the same bytes at the same places.
 */
import { createHash } from 'node:crypto';

export interface ChunkSizes {
  min: number;
  avg: number;
  max: number;
}

/** The default sizes (see bench/README.md, "Choosing chunk sizes"). */
export const DEFAULT_CHUNK_SIZES: ChunkSizes = { min: 16 * 1024, avg: 64 * 1024, max: 256 * 1024 };

const GEAR = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    const d = createHash('sha256').update(`marionette-cas-gear-${i}`).digest();
    t[i] = d.readUInt32LE(0);
  }
  return t;
})();

function highMask(bits: number): number {
  return bits >= 32 ? 0xffffffff : ((2 ** bits - 1) * 2 ** (32 - bits)) >>> 0;
}

/** Validates sizes: 64 ≤ min ≤ avg ≤ max ≤ 64 MiB, avg a power of two. */
export function checkSizes(s: ChunkSizes): void {
  const pow2 = (n: number) => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
  if (!(s.min >= 64 && s.min <= s.avg && s.avg <= s.max && s.max <= 64 * 1024 * 1024 && pow2(s.avg)))
    throw new RangeError(
      `chunk sizes min=${s.min} avg=${s.avg} max=${s.max}: need 64 ≤ min ≤ avg ≤ max ≤ 64 MiB, avg a power of two`,
    );
}

/**
 * The length of the first chunk of `buf[start..end)`, or -1 when no cut point was found and the
 * data ends before `max` (the caller should wait for more bytes, or cut at `end` at end of input).
 */
export function findCut(
  buf: Uint8Array,
  start: number,
  end: number,
  s: ChunkSizes,
  maskS: number,
  maskL: number,
): number {
  const n = end - start;
  if (n <= s.min) return -1;
  const limit = Math.min(n, s.max);
  const normal = Math.min(limit, s.avg);
  let h = 0;
  let i = s.min;
  for (; i < normal; i++) {
    h = ((h << 1) + (GEAR[buf[start + i] as number] as number)) | 0;
    if ((h & maskS) === 0) return i + 1;
  }
  for (; i < limit; i++) {
    h = ((h << 1) + (GEAR[buf[start + i] as number] as number)) | 0;
    if ((h & maskL) === 0) return i + 1;
  }
  return limit === s.max ? s.max : -1;
}

/**
 * Streaming chunker: `push` blocks of a file in order and get complete chunks back; `end` returns
 * the last one. It holds at most one `max`-sized tail between calls, and scans that tail again
 * with the next block, so push blocks of at least `max` bytes (the store pushes 256 KiB to 1 MiB)
 * for linear time; smaller blocks give the same cuts, only slower.
 */
export class Chunker {
  private readonly maskS: number;
  private readonly maskL: number;
  private pending: Uint8Array = new Uint8Array(0);

  constructor(private readonly sizes: ChunkSizes = DEFAULT_CHUNK_SIZES) {
    checkSizes(sizes);
    const bits = Math.round(Math.log2(sizes.avg));
    this.maskS = highMask(bits + 2) | 0;
    this.maskL = highMask(Math.max(1, bits - 2)) | 0;
  }

  push(block: Uint8Array): Uint8Array[] {
    const buf = this.pending.length === 0 ? block : Buffer.concat([this.pending, block]);
    const out: Uint8Array[] = [];
    let pos = 0;
    for (;;) {
      const cut = findCut(buf, pos, buf.length, this.sizes, this.maskS, this.maskL);
      if (cut < 0) break;
      out.push(buf.subarray(pos, pos + cut));
      pos += cut;
    }
    // Copy the tail so the caller's block can be reused or freed.
    this.pending = pos === buf.length ? new Uint8Array(0) : Uint8Array.prototype.slice.call(buf, pos);
    return out;
  }

  end(): Uint8Array | null {
    const last = this.pending;
    this.pending = new Uint8Array(0);
    return last.length ? last : null;
  }
}

/** Chunks a whole buffer at once (tests, manifests). */
export function chunkAll(data: Uint8Array, sizes: ChunkSizes = DEFAULT_CHUNK_SIZES): Uint8Array[] {
  const c = new Chunker(sizes);
  const out = c.push(data);
  const last = c.end();
  if (last) out.push(last);
  return out;
}
