/**
 * @module Test helpers for the store: a small tree with every entry kind, and a comparison of two
 * trees (paths, types, modes, sizes, mtimes, content, symlink targets).
 */
import { createHash } from 'node:crypto';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

/** Deterministic pseudo-random bytes. */
export function prng(seed: number, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Writes a tree with files (empty, small, large, executable, read-only), directories, symlinks. */
export function makeTree(root: string): void {
  mkdirSync(join(root, 'src/lib'), { recursive: true });
  mkdirSync(join(root, 'empty-dir'));
  mkdirSync(join(root, 'locked'));
  writeFileSync(join(root, 'README.md'), '# hello\n');
  writeFileSync(join(root, 'empty.txt'), '');
  writeFileSync(join(root, 'src/main.ts'), 'export const x = 1;\n'.repeat(500));
  writeFileSync(join(root, 'src/lib/big.bin'), prng(7, 3 * 1024 * 1024 + 123));
  writeFileSync(join(root, 'src/lib/dup.bin'), prng(7, 3 * 1024 * 1024 + 123));
  writeFileSync(join(root, 'run.sh'), '#!/bin/sh\necho hi\n');
  chmodSync(join(root, 'run.sh'), 0o755);
  writeFileSync(join(root, 'locked/secret'), 'ro');
  chmodSync(join(root, 'locked/secret'), 0o400);
  chmodSync(join(root, 'locked'), 0o555);
  symlinkSync('src/main.ts', join(root, 'link-to-main'));
  symlinkSync('/nowhere/at/all', join(root, 'dangling'));
  utimesSync(join(root, 'README.md'), 1_600_000_000, 1_600_000_000);
}

export interface TreeRow {
  path: string;
  type: string;
  mode: number;
  size: number;
  mtimeMs: number;
  hash: string;
}

/** Lists a tree for comparison (root excluded). */
export function describeTree(root: string, rel = ''): TreeRow[] {
  const rows: TreeRow[] = [];
  for (const name of readdirSync(rel ? join(root, rel) : root).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    const abs = join(root, r);
    const st = lstatSync(abs);
    const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'file';
    const hash =
      type === 'file'
        ? createHash('sha256').update(readFileSync(abs)).digest('hex')
        : type === 'symlink'
          ? readlinkSync(abs)
          : '';
    rows.push({
      path: r,
      type,
      mode: type === 'symlink' ? 0 : st.mode & 0o7777,
      size: type === 'dir' ? 0 : st.size,
      mtimeMs: type === 'symlink' ? 0 : Math.trunc(st.mtimeMs),
      hash,
    });
    if (type === 'dir') rows.push(...describeTree(root, r));
  }
  return rows;
}
