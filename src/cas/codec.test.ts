import { describe, expect, it } from 'vitest';
import { CorruptObject, decodeVerified, encode, encodeSync, hashId } from './codec.js';
import { prng } from './test-tree.test-support.js';

describe('codec', () => {
  const text = Buffer.from('export const value = compute(input);\n'.repeat(2000));
  const random = prng(5, 64 * 1024);

  it('compresses what shrinks and stores as is what does not, both read back verified', async () => {
    for (const codec of [{ name: 'deflate', level: 1 } as const, { name: 'brotli', level: 3 } as const]) {
      const t = await encode(text, codec);
      expect(t[0]).toBe(codec.name === 'deflate' ? 1 : 2);
      expect(t.length).toBeLessThan(text.length / 10);
      expect(Buffer.from(decodeVerified(hashId(text), t)).equals(text)).toBe(true);
      const r = await encode(random, codec);
      expect(r[0]).toBe(0);
      expect(Buffer.from(decodeVerified(hashId(random), r)).equals(random)).toBe(true);
    }
    // Small objects take the in-place path and read back the same.
    const small = Buffer.from('tiny but compressible '.repeat(20));
    expect(Buffer.from(decodeVerified(hashId(small), await encode(small))).equals(small)).toBe(true);
  });

  it('refuses an object whose bytes are not what its address names', () => {
    const stored = Buffer.from(encodeSync(text));
    const id = hashId(text);
    const flipped = Buffer.from(stored);
    flipped[flipped.length >> 1] = (flipped[flipped.length >> 1] as number) ^ 1;
    expect(() => decodeVerified(id, flipped)).toThrow(CorruptObject);
    expect(() => decodeVerified(id, stored.subarray(0, stored.length - 10))).toThrow(CorruptObject);
    const badHeader = Buffer.from(stored);
    badHeader[0] = 9;
    expect(() => decodeVerified(id, badHeader)).toThrow(/unknown encoding 9/);
    expect(() => decodeVerified(id, new Uint8Array(0))).toThrow(/empty object/);
    expect(() => decodeVerified(hashId(Buffer.from('other')), stored)).toThrow(/does not match its address/);
  });
});
