import { describe, expect, it } from 'vitest';
import { Chunker, checkSizes, chunkAll, DEFAULT_CHUNK_SIZES } from './chunker.js';
import { hashId } from './codec.js';
import { prng } from './test-tree.test-support.js';

const S = DEFAULT_CHUNK_SIZES;

describe('content-defined chunker', () => {
  it('cuts within min..max, reassembles exactly, and averages near the target', () => {
    const data = prng(1, 8 * 1024 * 1024);
    const chunks = chunkAll(data);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    for (const c of chunks.slice(0, -1)) {
      expect(c.length).toBeGreaterThanOrEqual(S.min);
      expect(c.length).toBeLessThanOrEqual(S.max);
    }
    const avg = data.length / chunks.length;
    expect(avg).toBeGreaterThan(S.avg / 2);
    expect(avg).toBeLessThan(S.avg * 2);
  });

  it('gives the same cuts whatever the block sizes data is pushed in', () => {
    const data = prng(2, 3 * 1024 * 1024 + 17);
    const whole = chunkAll(data).map(hashId);
    for (const block of [4096, 65_536, 1_000_003]) {
      const c = new Chunker();
      const out: Uint8Array[] = [];
      for (let i = 0; i < data.length; i += block) out.push(...c.push(data.subarray(i, i + block)));
      const last = c.end();
      if (last) out.push(last);
      expect(out.map(hashId)).toEqual(whole);
    }
  });

  it('an insertion in the middle changes only the chunks around it', () => {
    const data = prng(3, 4 * 1024 * 1024);
    const edited = Buffer.concat([
      data.subarray(0, 2_000_000),
      Buffer.from('inserted bytes'),
      data.subarray(2_000_000),
    ]);
    const a = chunkAll(data).map(hashId);
    const b = new Set(chunkAll(edited).map(hashId));
    const lost = a.filter((id) => !b.has(id));
    expect(lost.length).toBeGreaterThan(0);
    expect(lost.length).toBeLessThanOrEqual(2);
  });

  it('cuts data with no cut point (all zeros) at max', () => {
    const chunks = chunkAll(new Uint8Array(S.max * 3 + 5));
    expect(chunks.map((c) => c.length)).toEqual([S.max, S.max, S.max, 5]);
  });

  it('refuses sizes that make no sense', () => {
    expect(() => checkSizes({ min: 10, avg: 64, max: 128 })).toThrow(RangeError);
    expect(() => checkSizes({ min: 1024, avg: 3000, max: 8192 })).toThrow(/power of two/);
    expect(() => checkSizes({ min: 4096, avg: 2048, max: 8192 })).toThrow(RangeError);
  });
});
