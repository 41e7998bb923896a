/**
 * @module Workspace store benchmark: snapshots and restores of a generated ~100 MB tree through
 * the content-addressable store (src/cas/, filesystem backend), against baselines measured in the
 * same run on the same tree: `tar -czf`, `tar -xzf` and a plain recursive copy (`cp -a`).
 *
 * The tree (deterministic): thousands of small source files, a node_modules-like tree (with
 * packages installed twice, as package managers do), a minified bundle, a few incompressible
 * binaries, a semi-compressible database file and duplicate files.
 *
 * Each store operation runs in its own child process (`--op`), so its peak RSS is its own.
 * Rows: first snapshot, snapshot with no change (with the workspace index), snapshot after
 * changing 1% of the files, restore into an empty directory; bytes sent (encoded bytes put),
 * bytes stored, dedupe ratio, peak RSS. Then the choices: codecs and hashes on the tree's unique
 * chunks, and chunk sizes (first snapshot, then the 1% change).
 *
 * Targets (issue 16): first snapshot ≥ 2x faster than `tar -czf`; no-change snapshot < 5% of the
 * first's time; the 1% change sends < 5% of the first's bytes; restore at least as fast as
 * `tar -xzf`; peak RSS < 200 MB.
 *
 * Usage: `npm run build && node dist/bench/workspace.js [--mb 100] [--no-choices]`
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { ChunkSizes } from '../src/cas/chunker.js';
import { type Codec, decodeVerified, encode } from '../src/cas/codec.js';
import { FsBackend } from '../src/cas/fs-backend.js';
import { WorkspaceIndex } from '../src/cas/index-file.js';
import { restoreDir } from '../src/cas/restore.js';
import { snapshotDir } from '../src/cas/snapshot.js';

const argv = process.argv;
const flag = (name: string) => argv.includes(`--${name}`);
const opt = (name: string, def: string) => {
  const i = argv.indexOf(`--${name}`);
  return i > 0 ? (argv[i + 1] as string) : def;
};
const SELF = fileURLToPath(import.meta.url);

// ---------------------------------------------------------------------------------------------
// The child: one store operation, then a JSON line with its time and peak RSS.

function parseSizes(s: string): ChunkSizes {
  const [min, avg, max] = s.split(',').map((n) => Number(n) * 1024);
  return { min: min as number, avg: avg as number, max: max as number };
}
function parseCodec(s: string): Codec {
  const [name, level] = s.split(':');
  return { name: name as Codec['name'], level: Number(level ?? 1) };
}

async function child(): Promise<void> {
  const op = opt('op', '');
  const store = new FsBackend(opt('store', ''));
  const ru0 = process.resourceUsage();
  const cpu0 = (ru0.userCPUTime + ru0.systemCPUTime) / 1000;
  const t0 = performance.now();
  let result: unknown;
  if (op === 'snapshot') {
    const indexFile = opt('index', '');
    const index = indexFile ? await WorkspaceIndex.load(indexFile) : undefined;
    const r = await snapshotDir(opt('dir', ''), store, index, {
      sizes: parseSizes(opt('sizes', '16,64,256')),
      codec: parseCodec(opt('codec', 'deflate:1')),
    });
    if (index && indexFile) await index.save(indexFile, r.manifestId);
    result = r;
  } else if (op === 'restore') {
    result = await restoreDir(opt('manifest', ''), store, opt('dir', ''));
  } else throw new Error(`unknown --op ${op}`);
  const ms = performance.now() - t0;
  const ru = process.resourceUsage();
  const cpuMs = (ru.userCPUTime + ru.systemCPUTime) / 1000 - cpu0;
  process.stdout.write(`${JSON.stringify({ ms, cpuMs, maxRssMB: ru.maxRSS / 1024, result })}\n`);
}

interface ChildOut {
  ms: number;
  cpuMs: number;
  maxRssMB: number;
  result: {
    manifestId: string;
    files: number;
    bytes: number;
    bytesNew: number;
    bytesRead: number;
    filesUnchanged: number;
  };
}

function runChild(args: string[]): ChildOut {
  const r = spawnSync(process.execPath, [SELF, ...args], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`child ${args.join(' ')} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as ChildOut;
}

/** Wall time and CPU time (user + system, from bash's `times`) of a command. */
function timeCmd(cmd: string, args: string[]): { ms: number; cpuMs: number } {
  const quoted = [cmd, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  const t0 = performance.now();
  const out = execFileSync('bash', ['-c', `${quoted} >/dev/null 2>&1; times`], { encoding: 'utf8' });
  const ms = performance.now() - t0;
  // `times` prints the shell's then its children's user and system times: "0m1.234s 0m0.056s".
  const line = out.trim().split('\n').pop() ?? '';
  const secs = [...line.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  return { ms, cpuMs: ((secs[0] ?? 0) + (secs[1] ?? 0)) * 1000 };
}

// ---------------------------------------------------------------------------------------------
// The tree.

class Rand {
  private x: number;
  constructor(seed: number) {
    this.x = seed >>> 0 || 1;
  }
  next(): number {
    let x = this.x;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.x = x >>> 0;
    return this.x / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i += 4) b.writeUInt32LE((this.next() * 4294967296) >>> 0, Math.min(i, n - 4));
    return b;
  }
}

const KEYWORDS = [
  'const',
  'let',
  'return',
  'if',
  'else',
  'for',
  'await',
  'async',
  'function',
  'export',
  'import',
  'from',
  'new',
  'this',
  'throw',
  'try',
  'catch',
  'type',
  'interface',
  'null',
  'undefined',
  'true',
  'false',
];

function vocabulary(r: Rand): string[] {
  const parts = [
    'get',
    'set',
    'user',
    'session',
    'task',
    'runner',
    'pool',
    'config',
    'id',
    'name',
    'list',
    'map',
    'value',
    'result',
    'error',
    'state',
    'event',
    'handler',
    'request',
    'response',
    'buffer',
    'stream',
    'index',
    'count',
    'options',
    'item',
    'node',
    'path',
    'file',
    'data',
  ];
  const v: string[] = [...KEYWORDS];
  for (let i = 0; i < 1500; i++) {
    const n = 1 + r.int(3);
    let w = '';
    for (let k = 0; k < n; k++) {
      const p = parts[r.int(parts.length)] as string;
      w += k === 0 ? p : p[0]?.toUpperCase() + p.slice(1);
    }
    v.push(w);
  }
  return v;
}

function sourceText(r: Rand, vocab: string[], bytes: number): string {
  const out: string[] = [];
  let len = 0;
  const punct = ['(', ')', ';', ' = ', '.', ', ', ' => ', '{', '}', ' + ', ' === ', ': '];
  while (len < bytes) {
    const indent = '  '.repeat(r.int(4));
    let line = indent;
    const n = 2 + r.int(9);
    for (let i = 0; i < n; i++) {
      line += (
        r.next() < 0.3 ? KEYWORDS[r.int(KEYWORDS.length)] : vocab[Math.floor(r.next() ** 2 * vocab.length)]
      ) as string;
      line += punct[r.int(punct.length)] as string;
    }
    if (r.next() < 0.05) line += ` // ${vocab[r.int(vocab.length)]} ${vocab[r.int(vocab.length)]} ${r.int(100000)}`;
    out.push(line);
    len += line.length + 1;
  }
  return `${out.join('\n')}\n`;
}

interface TreeInfo {
  files: string[];
  textFiles: string[];
  bytes: number;
}

function makeTree(root: string, targetMB: number): TreeInfo {
  const r = new Rand(20261130);
  const vocab = vocabulary(r);
  const scale = targetMB / 100;
  const files: string[] = [];
  const textFiles: string[] = [];
  let bytes = 0;
  const write = (rel: string, data: string | Buffer, text: boolean) => {
    const abs = join(root, rel);
    mkdirSync(join(abs, '..'), { recursive: true });
    writeFileSync(abs, data);
    files.push(rel);
    if (text) textFiles.push(rel);
    bytes += typeof data === 'string' ? Buffer.byteLength(data) : data.length;
  };
  // Source: ~2,400 files of 1-12 KB (~16 MB).
  for (let d = 0; d < Math.round(45 * scale); d++)
    for (let f = 0; f < 60; f++) write(`src/module${d}/file${f}.ts`, sourceText(r, vocab, 1000 + r.int(11_000)), true);
  // node_modules: packages of 4-20 files of 1-16 KB (~30 MB), 25 of them installed a second time.
  const pkgs: string[][] = [];
  for (let p = 0; p < Math.round(250 * scale); p++) {
    const rels: string[] = [];
    const n = 4 + r.int(17);
    write(
      `node_modules/pkg-${p}/package.json`,
      JSON.stringify({ name: `pkg-${p}`, version: `1.${r.int(20)}.${r.int(9)}`, main: 'index.js' }, null, 2),
      true,
    );
    for (let f = 0; f < n; f++) {
      const rel = `lib/${vocab[r.int(vocab.length)]}-${f}.js`;
      write(`node_modules/pkg-${p}/${rel}`, sourceText(r, vocab, 1000 + r.int(15_000)), true);
      rels.push(rel);
    }
    pkgs.push(rels);
  }
  for (let k = 0; k < Math.round(25 * scale); k++) {
    const p = r.int(pkgs.length);
    for (const rel of pkgs[p] as string[])
      write(
        `node_modules/pkg-${k}-host/node_modules/pkg-${p}/${rel}`,
        readFileSync(join(root, `node_modules/pkg-${p}/${rel}`)),
        true,
      );
  }
  // A minified bundle (~10 MB, one long line of code).
  write('dist/bundle.min.js', sourceText(r, vocab, Math.round(12_000_000 * scale)).replace(/\n\s*/g, ''), true);
  // Binaries: incompressible (~22 MB) and a semi-compressible database file (~8 MB).
  for (let b = 0; b < 4; b++) write(`assets/blob${b}.bin`, r.bytes(Math.round(6_500_000 * scale)), false);
  const db = Buffer.alloc(Math.round(8_000_000 * scale));
  for (let off = 0; off + 64 <= db.length; off += 64) {
    db.writeUInt32LE(off / 64, off);
    db.write(vocab[r.int(vocab.length)] as string, off + 8, 'latin1');
    if (r.next() < 0.3) r.bytes(16).copy(db, off + 40);
  }
  write('data/app.db', db, false);
  // Duplicates: a binary and a source folder copied elsewhere (~6 MB).
  write('backup/blob0.bin', readFileSync(join(root, 'assets/blob0.bin')), false);
  for (let f = 0; f < 60; f++) write(`src-copy/file${f}.ts`, readFileSync(join(root, `src/module0/file${f}.ts`)), true);
  return { files, textFiles, bytes };
}

/** Changes 1% of the files (every 100th text file: a line inserted in the middle; every 100th binary: 4 KB rewritten). */
function changeOnePercent(root: string, info: TreeInfo): number {
  let changed = 0;
  for (let i = 0; i < info.files.length; i += 100) {
    const rel = info.files[i] as string;
    const abs = join(root, rel);
    const data = readFileSync(abs);
    const mid = data.indexOf(10, data.length >> 1);
    if (info.textFiles.includes(rel) && mid > 0)
      writeFileSync(
        abs,
        Buffer.concat([data.subarray(0, mid + 1), Buffer.from(`// changed ${i}\n`), data.subarray(mid + 1)]),
      );
    else if (!info.textFiles.includes(rel)) {
      Buffer.from(createHash('sha256').update(String(i)).digest('hex').repeat(64)).copy(data, data.length >> 1);
      writeFileSync(abs, data);
    } else appendFileSync(abs, `// changed ${i}\n`);
    changed++;
  }
  return changed;
}

function duBytes(dir: string): number {
  return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
}

async function storedStats(storeDir: string): Promise<{ objects: number; stored: number; plain: number }> {
  const store = new FsBackend(storeDir);
  let objects = 0;
  let stored = 0;
  let plain = 0;
  for await (const o of store.list()) {
    const data = (await store.get(o.id)) as Uint8Array;
    objects++;
    stored += data.length;
    plain += decodeVerified(o.id, data).length;
  }
  return { objects, stored, plain };
}

// ---------------------------------------------------------------------------------------------

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[(s.length - 1) >> 1] as number) : 0;
}

const MB = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
const ms = (n: number) => `${n.toFixed(0)} ms`;

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join(' | ')} |`;
  const rule = widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`));
  return [line(head), `|${rule.join('|')}|`, ...rows.map(line)].join('\n');
}

async function choices(tree: string, storeDir: string, info: TreeInfo): Promise<void> {
  // Hashes and codecs over the unique chunks of the first snapshot (plain bytes).
  const store = new FsBackend(storeDir);
  const chunks: Uint8Array[] = [];
  for await (const o of store.list()) chunks.push(decodeVerified(o.id, (await store.get(o.id)) as Uint8Array));
  const total = chunks.reduce((a, c) => a + c.length, 0);
  const hashRows: string[][] = [];
  const hashes = ['sha256', 'sha512-256', 'blake2b512', 'sha1', 'md5'];
  const hashTimes = new Map<string, number[]>(hashes.map((h) => [h, []]));
  // Three rounds, interleaved, median: this machine is shared and its speed varies minute to minute.
  for (let round = 0; round < 3; round++)
    for (const alg of hashes) {
      const t0 = performance.now();
      for (const c of chunks) createHash(alg).update(c).digest();
      hashTimes.get(alg)?.push(performance.now() - t0);
    }
  for (const alg of hashes) {
    const dt = median(hashTimes.get(alg) ?? []);
    hashRows.push([alg, ms(dt), `${(total / 1e6 / (dt / 1000)).toFixed(0)} MB/s`]);
  }
  console.log(`\nHashes over the unique chunks (${MB(total)}, ${chunks.length} chunks), one core, median of 3:\n`);
  console.log(table(['hash', 'time', 'throughput'], hashRows));

  const codecRows: string[][] = [];
  const codecs: Codec[] = [
    { name: 'none', level: 0 },
    { name: 'deflate', level: 1 },
    { name: 'deflate', level: 3 },
    { name: 'deflate', level: 6 },
    { name: 'brotli', level: 1 },
    { name: 'brotli', level: 3 },
    { name: 'brotli', level: 5 },
  ];
  const encTimes = codecs.map(() => [] as number[]);
  const decTimes = codecs.map(() => [] as number[]);
  const outBytes = codecs.map(() => 0);
  const sample = chunks.slice(0, 400);
  const sampleIds = sample.map((c) => createHash('sha256').update(c).digest('hex'));
  for (let round = 0; round < 3; round++)
    for (const [k, codec] of codecs.entries()) {
      const t0 = performance.now();
      let out = 0;
      // Four in flight, as the uploader does (libuv's thread pool).
      for (let i = 0; i < chunks.length; i += 4) {
        const enc = await Promise.all(chunks.slice(i, i + 4).map((c) => encode(c, codec)));
        for (const e of enc) out += e.length;
      }
      encTimes[k]?.push(performance.now() - t0);
      outBytes[k] = out;
      const stored = await Promise.all(sample.map((c) => encode(c, codec)));
      const t2 = performance.now();
      stored.forEach((st, j) => {
        decodeVerified(sampleIds[j] as string, st);
      });
      decTimes[k]?.push(performance.now() - t2);
    }
  for (const [k, codec] of codecs.entries()) {
    const out = outBytes[k] as number;
    codecRows.push([
      `${codec.name}${codec.name === 'none' ? '' : `-${codec.level}`}`,
      ms(median(encTimes[k] ?? [])),
      MB(out),
      (total / out).toFixed(2),
      ms(median(decTimes[k] ?? [])),
    ]);
  }
  console.log(
    `\nCodecs over the same chunks, median of 3 (encode: 4 in flight; decode+verify: first 400 chunks, one core):\n`,
  );
  console.log(table(['codec', 'encode', 'stored', 'ratio', 'decode+verify (400)'], codecRows));

  // Chunk sizes: first snapshot and the 1% change, each into its own store.
  const sizeRows: string[][] = [];
  for (const sizes of ['4,16,64', '16,64,256', '64,256,1024']) {
    const base = mkdtempSync(join(tmpdir(), 'cas-bench-sizes-'));
    const copy = join(base, 'tree');
    execFileSync('cp', ['-a', tree, copy]);
    const s = join(base, 'store');
    const idx = join(base, 'index');
    const first = runChild(['--op', 'snapshot', '--dir', copy, '--store', s, '--index', idx, '--sizes', sizes]);
    const st = await storedStats(s);
    changeOnePercent(copy, info);
    const change = runChild(['--op', 'snapshot', '--dir', copy, '--store', s, '--index', idx, '--sizes', sizes]);
    sizeRows.push([
      `${sizes.replace(/,/g, ' / ')} KiB`,
      ms(first.ms),
      String(st.objects),
      MB(st.stored),
      MB(change.result.bytesNew),
      `${((100 * change.result.bytesNew) / first.result.bytesNew).toFixed(2)}%`,
    ]);
    rmSync(base, { recursive: true, force: true });
  }
  console.log('\nChunk sizes min / avg / max (deflate-1):\n');
  console.log(table(['sizes', 'first snapshot', 'objects', 'stored', '1% change sends', 'of first'], sizeRows));
}

async function main(): Promise<void> {
  const targetMB = Number(opt('mb', '100'));
  const base = mkdtempSync(join(tmpdir(), 'cas-bench-'));
  const keep = opt('keep-tree', '');
  try {
    const tree = join(base, 'tree');
    const t0 = performance.now();
    const info = makeTree(tree, targetMB);
    if (keep) execFileSync('cp', ['-a', tree, keep]);
    console.log(
      `tree: ${info.files.length} files, ${MB(info.bytes)} (generated in ${ms(performance.now() - t0)}); node ${process.version}`,
    );
    const storeDir = join(base, 'store');
    const index = join(base, 'index');
    // Every row runs with the tree in the page cache (it was just written), none drops caches.

    const tarFile = join(base, 'tree.tar.gz');
    const tarC = timeCmd('tar', ['-czf', tarFile, '-C', tree, '.']);
    const tarBytes = statSync(tarFile).size;
    const untar = join(base, 'untar');
    mkdirSync(untar);
    const tarX = timeCmd('tar', ['-xzf', tarFile, '-C', untar]);
    const cpT = timeCmd('cp', ['-a', tree, join(base, 'cp')]);
    rmSync(join(base, 'cp'), { recursive: true, force: true });
    rmSync(untar, { recursive: true, force: true });

    const first = runChild(['--op', 'snapshot', '--dir', tree, '--store', storeDir, '--index', index]);
    const st1 = await storedStats(storeDir);
    const same = runChild(['--op', 'snapshot', '--dir', tree, '--store', storeDir, '--index', index]);
    const changed = changeOnePercent(tree, info);
    const change = runChild(['--op', 'snapshot', '--dir', tree, '--store', storeDir, '--index', index]);
    const out = join(base, 'restored');
    const restore = runChild([
      '--op',
      'restore',
      '--manifest',
      change.result.manifestId,
      '--store',
      storeDir,
      '--dir',
      out,
    ]);
    const restoredBytes = duBytes(out);
    rmSync(out, { recursive: true, force: true });

    const rows: string[][] = [
      ['tar -czf (baseline)', ms(tarC.ms), ms(tarC.cpuMs), MB(tarBytes), MB(tarBytes), '', ''],
      ['tar -xzf (baseline)', ms(tarX.ms), ms(tarX.cpuMs), '', '', '', ''],
      ['cp -a (baseline)', ms(cpT.ms), ms(cpT.cpuMs), '', '', '', ''],
      [
        'cas: first snapshot',
        ms(first.ms),
        ms(first.cpuMs),
        MB(first.result.bytesNew),
        MB(st1.stored),
        `${st1.objects} objects`,
        `${first.maxRssMB.toFixed(0)} MB`,
      ],
      [
        'cas: snapshot, no change (index)',
        ms(same.ms),
        ms(same.cpuMs),
        MB(same.result.bytesNew),
        '',
        `${same.result.filesUnchanged} files not read`,
        `${same.maxRssMB.toFixed(0)} MB`,
      ],
      [
        `cas: snapshot after changing ${changed} files (1%)`,
        ms(change.ms),
        ms(change.cpuMs),
        MB(change.result.bytesNew),
        '',
        `${MB(change.result.bytesRead)} read`,
        `${change.maxRssMB.toFixed(0)} MB`,
      ],
      [
        'cas: restore into an empty directory',
        ms(restore.ms),
        ms(restore.cpuMs),
        '',
        '',
        `${MB(restoredBytes)} written`,
        `${restore.maxRssMB.toFixed(0)} MB`,
      ],
    ];
    console.log(`\n${table(['operation', 'time', 'CPU', 'bytes sent', 'bytes stored', 'notes', 'peak RSS'], rows)}\n`);
    const dedupe = info.bytes / st1.plain;
    console.log(
      `dedupe ratio (tree bytes / unique chunk bytes): ${dedupe.toFixed(2)}; with compression (tree / stored): ${(info.bytes / st1.stored).toFixed(2)}; tar.gz: ${(info.bytes / tarBytes).toFixed(2)}`,
    );
    const checks: [string, boolean, string][] = [
      [
        'first snapshot at least 2x faster than tar -czf',
        first.ms * 2 <= tarC.ms,
        `${(tarC.ms / first.ms).toFixed(2)}x (CPU ${(tarC.cpuMs / first.cpuMs).toFixed(2)}x)`,
      ],
      [
        'no-change snapshot under 5% of the first',
        same.ms < first.ms * 0.05,
        `${((100 * same.ms) / first.ms).toFixed(1)}%`,
      ],
      [
        '1% change sends under 5% of the bytes',
        change.result.bytesNew < first.result.bytesNew * 0.05,
        `${((100 * change.result.bytesNew) / first.result.bytesNew).toFixed(2)}%`,
      ],
      [
        'restore at least as fast as tar -xzf',
        restore.ms <= tarX.ms,
        `${(tarX.ms / restore.ms).toFixed(2)}x (CPU ${(tarX.cpuMs / restore.cpuMs).toFixed(2)}x)`,
      ],
      [
        'peak RSS under 200 MB',
        Math.max(first.maxRssMB, same.maxRssMB, change.maxRssMB, restore.maxRssMB) < 200,
        `${Math.max(first.maxRssMB, same.maxRssMB, change.maxRssMB, restore.maxRssMB).toFixed(0)} MB`,
      ],
    ];
    for (const [name, ok, v] of checks) console.log(`${ok ? 'MET   ' : 'MISSED'} ${name}: ${v}`);

    if (!flag('no-choices')) await choices(tree, storeDir, info);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}

if (argv.includes('--op')) await child();
else await main();
