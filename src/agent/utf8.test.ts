import { describe, expect, it } from 'vitest';
import { lineBytes } from '../protocol/linebytes.js';
import { lineSplitter, MAX_LINE } from './task.js';
import { Utf8StreamDecoder } from './utf8.js';

/** Feeds `bytes` to a fresh decoder in pieces cut at every `cuts` offset. */
function decodeIn(bytes: Buffer, cuts: number[]): string {
  const d = new Utf8StreamDecoder();
  let out = '';
  let at = 0;
  for (const c of [...cuts, bytes.length]) {
    out += d.write(bytes.subarray(at, c));
    at = c;
  }
  return out + d.end();
}

describe('streaming UTF-8 decoding', () => {
  it('keeps a character whole when a read splits it, at every split point', () => {
    const text = 'é€😀ab';
    const bytes = Buffer.from(text);
    for (let i = 1; i < bytes.length; i++)
      for (let j = i; j < bytes.length; j++) expect(decodeIn(bytes, [i, j])).toBe(text);
  });

  it('splits 40 lines of é written in halves into 40 é (20 of 40 were corrupted before)', () => {
    const lines: string[] = [];
    const s = lineSplitter((l) => lines.push(l));
    for (let i = 0; i < 40; i++) {
      s.write(Buffer.from([0xc3]));
      s.write(Buffer.from([0xa9, 0x0a]));
    }
    s.end();
    expect(lines).toEqual(Array(40).fill('é'));
  });

  it('keeps invalid bytes as U+DC80+byte and gives the exact bytes back', () => {
    const cases = ['ff', 'c3', 'e282', 'eda080', 'f4908080', 'c0af', '61ff62', 'f09f98', '80', '00', '10', 'e28228'];
    for (const hex of cases) {
      const b = Buffer.from(hex, 'hex');
      for (let cut = 0; cut <= b.length; cut++) {
        const line = decodeIn(b, cut ? [cut] : []);
        expect(lineBytes(line).toString('hex')).toBe(hex);
      }
    }
    expect(decodeIn(Buffer.from('61ff62', 'hex'), [])).toBe('a\udcffb');
  });

  it('cuts an unfinished line at MAX_LINE, never inside a surrogate pair', () => {
    const lines: string[] = [];
    const s = lineSplitter((l) => lines.push(l));
    s.write(Buffer.from(`${'a'.repeat(MAX_LINE - 1)}😀rest`));
    s.end();
    expect(lines[0]).toHaveLength(MAX_LINE - 1);
    expect(lines[1]).toBe('😀rest');
  });
});
