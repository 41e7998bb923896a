/**
 * @module A streaming UTF-8 decoder for a task's stdout and stderr. A character split across two
 * pipe reads is decoded whole (the incomplete tail of one chunk waits for the next). Bytes that are
 * not valid UTF-8 are kept, not replaced: each becomes the lone surrogate U+DC80–U+DCFF (the
 * "surrogateescape" convention), so `lineBytes` (src/protocol/linebytes.ts) gives back the exact
 * bytes the task wrote. The store
 * escapes those code units (and NUL) so they survive both databases (`src/store/logtext.ts`).
 */
import { isUtf8 } from 'node:buffer';

/** Length of the UTF-8 sequence a lead byte opens (1 for ASCII, 0 for a byte that cannot lead). */
function seqLength(b: number): number {
  if (b < 0x80) return 1;
  if (b >= 0xc2 && b <= 0xdf) return 2;
  if (b >= 0xe0 && b <= 0xef) return 3;
  if (b >= 0xf0 && b <= 0xf4) return 4;
  return 0;
}

/** Whether bytes `i..i+n` of `buf` are one valid sequence (the second byte's range depends on the lead). */
function validAt(buf: Buffer, i: number, n: number): boolean {
  if (i + n > buf.length) return false;
  const b0 = buf[i]!;
  const b1 = buf[i + 1]!;
  let lo = 0x80;
  let hi = 0xbf;
  if (b0 === 0xe0) lo = 0xa0;
  else if (b0 === 0xed) hi = 0x9f;
  else if (b0 === 0xf0) lo = 0x90;
  else if (b0 === 0xf4) hi = 0x8f;
  if (b1 < lo || b1 > hi) return false;
  for (let k = 2; k < n; k++) {
    const b = buf[i + k]!;
    if (b < 0x80 || b > 0xbf) return false;
  }
  return true;
}

/** Decodes a buffer, turning every byte that is not part of a valid sequence into U+DC80+byte. */
function decodeLossless(buf: Buffer): string {
  let out = '';
  let run = 0;
  let i = 0;
  while (i < buf.length) {
    const n = seqLength(buf[i]!);
    if (n === 1 || (n > 1 && validAt(buf, i, n))) {
      i += n;
      continue;
    }
    if (run < i) out += buf.toString('utf8', run, i);
    out += String.fromCharCode(0xdc00 + buf[i]!);
    i++;
    run = i;
  }
  if (run < buf.length) out += buf.toString('utf8', run);
  return out;
}

/** Where an unfinished (so far valid) sequence at the end of `buf` starts, or `buf.length`. */
function incompleteTail(buf: Buffer): number {
  for (let back = 1; back <= 3 && back <= buf.length; back++) {
    const i = buf.length - back;
    const b = buf[i]!;
    if (b >= 0x80 && b <= 0xbf) continue; // a continuation byte: look further back
    const n = seqLength(b);
    if (n > back) {
      // Only hold bytes that can still become a valid sequence.
      const probe = Buffer.alloc(n, 0x80);
      buf.copy(probe, 0, i);
      if (back === 1) probe[1] = b === 0xe0 ? 0xa0 : b === 0xf0 ? 0x90 : 0x80;
      return validAt(probe, 0, n) ? i : buf.length;
    }
    return buf.length;
  }
  return buf.length;
}

export class Utf8StreamDecoder {
  private carry: Buffer | null = null;

  /** Decodes a chunk; an unfinished character at its end is held for the next chunk. */
  write(chunk: Buffer): string {
    let buf = this.carry ? Buffer.concat([this.carry, chunk]) : chunk;
    this.carry = null;
    const cut = incompleteTail(buf);
    if (cut < buf.length) {
      this.carry = Buffer.from(buf.subarray(cut));
      buf = buf.subarray(0, cut);
    }
    return isUtf8(buf) ? buf.toString('utf8') : decodeLossless(buf);
  }

  /** What is left at the end of the stream (an unfinished character is kept as raw bytes). */
  end(): string {
    const c = this.carry;
    this.carry = null;
    return c ? decodeLossless(c) : '';
  }
}
