/**
 * @module A minimal POSIX ustar writer (directories, regular files, symlinks, hard links) used to
 * assemble the agent image's root filesystem for `docker import`. Small on purpose: no
 * compression, no pax headers; names longer than ustar's 100+155 bytes are refused.
 */

/** One entry of the archive. Paths are absolute-looking (`/usr/bin/bash`) or relative; the leading `/` is dropped. */
export type TarEntry =
  | { type: 'dir'; path: string; mode: number; uid?: number; gid?: number }
  | { type: 'file'; path: string; mode: number; data: Buffer; uid?: number; gid?: number }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'hardlink'; path: string; target: string };

const BLOCK = 512;

function octal(n: number, width: number): string {
  // width includes the trailing NUL
  const s = Math.trunc(n).toString(8);
  if (s.length > width - 1) throw new Error(`tar: value ${n} does not fit in ${width} bytes`);
  return `${s.padStart(width - 1, '0')}\0`;
}

function splitName(path: string): { name: string; prefix: string } {
  const p = path.replace(/^\/+/, '');
  if (Buffer.byteLength(p) <= 100) return { name: p, prefix: '' };
  for (let i = p.length - 1; i > 0; i--) {
    if (p[i] !== '/') continue;
    const prefix = p.slice(0, i);
    const name = p.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name.length > 0) return { name, prefix };
  }
  throw new Error(`tar: path too long for ustar: ${path}`);
}

/** Encodes one entry's 512-byte header. */
function header(e: TarEntry, size: number): Buffer {
  const buf = Buffer.alloc(BLOCK, 0);
  const { name, prefix } = splitName(e.type === 'dir' ? `${e.path.replace(/\/+$/, '')}/` : e.path);
  const typeflag = e.type === 'file' ? '0' : e.type === 'hardlink' ? '1' : e.type === 'symlink' ? '2' : '5';
  const mode = e.type === 'dir' || e.type === 'file' ? e.mode : 0o777;
  const uid = e.type === 'dir' || e.type === 'file' ? (e.uid ?? 0) : 0;
  const gid = e.type === 'dir' || e.type === 'file' ? (e.gid ?? 0) : 0;
  const linkname = e.type === 'symlink' ? e.target : e.type === 'hardlink' ? e.target.replace(/^\/+/, '') : '';
  if (Buffer.byteLength(linkname) > 100) throw new Error(`tar: link target too long: ${linkname}`);
  buf.write(name, 0, 100, 'utf8');
  buf.write(octal(mode & 0o7777, 8), 100, 8, 'ascii');
  buf.write(octal(uid, 8), 108, 8, 'ascii');
  buf.write(octal(gid, 8), 116, 8, 'ascii');
  buf.write(octal(size, 12), 124, 12, 'ascii');
  buf.write(octal(0, 12), 136, 12, 'ascii');
  buf.write('        ', 148, 8, 'ascii');
  buf.write(typeflag, 156, 1, 'ascii');
  buf.write(linkname, 157, 100, 'utf8');
  buf.write('ustar\0', 257, 6, 'ascii');
  buf.write('00', 263, 2, 'ascii');
  buf.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of buf) sum += b;
  buf.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return buf;
}

/**
 * Yields the archive as buffers (headers, file data padded to 512 bytes, two zero blocks at the end).
 *
 * @example
 * Readable.from(tarChunks([{ type: 'dir', path: '/etc', mode: 0o755 }]))
 */
export function* tarChunks(entries: Iterable<TarEntry>): Generator<Buffer> {
  for (const e of entries) {
    const size = e.type === 'file' ? e.data.length : 0;
    yield header(e, size);
    if (e.type === 'file' && size > 0) {
      yield e.data;
      const pad = (BLOCK - (size % BLOCK)) % BLOCK;
      if (pad > 0) yield Buffer.alloc(pad, 0);
    }
  }
  yield Buffer.alloc(BLOCK * 2, 0);
}
