/**
 * @module The bytes a log line stands for. The agent keeps bytes that were not valid UTF-8 as the
 * lone surrogates U+DC80–U+DCFF, one per byte (`src/agent/utf8.ts`); this turns a line back into
 * exactly the bytes the task wrote (`mctl ... logs` prints them so).
 */

/** The bytes a decoded line stands for: U+DC80–U+DCFF that are not half of a pair become raw bytes again. */
export function lineBytes(line: string): Buffer {
  if (!/[\udc80-\udcff]/.test(line)) return Buffer.from(line, 'utf8');
  const parts: Buffer[] = [];
  let run = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c < 0xdc80 || c > 0xdcff) continue;
    const prev = i > 0 ? line.charCodeAt(i - 1) : 0;
    if (prev >= 0xd800 && prev <= 0xdbff) continue; // the low half of a pair
    parts.push(Buffer.from(line.slice(run, i), 'utf8'), Buffer.from([c - 0xdc00]));
    run = i + 1;
  }
  parts.push(Buffer.from(line.slice(run), 'utf8'));
  return Buffer.concat(parts);
}
