/**
 * A full disk degrades the server instead of wedging it. The server's home is a small tmpfs the
 * test mounts itself (root only: elsewhere the test is skipped with the reason printed; CI runs
 * as root). With the disk filled: health answers and says why (503, store: disk_full), writes get
 * a clear 507 problem+json, reads still work. With space freed, the server recovers by itself,
 * writes work again and nothing stored before was lost. Stopping the server while the disk is
 * full ends it (its log's flush must not retry ENOSPC forever), and a restart finds every row.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerHandle, startServer, until } from './harness.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.log('[diskfull] skipped: mounting a tmpfs needs root (CI runs as root)');

interface Health {
  ok: boolean;
  problems: { component: string; reason: string; message: string; since: string }[];
}
interface Problem {
  type: string;
  status: number;
  detail: string;
  hint?: string;
  reason?: string;
}

let mnt = '';
let mounted = false;
let srv: ServerHandle | null = null;

beforeAll(() => {
  if (!isRoot) return;
  mnt = mkdtempSync(join(tmpdir(), 'marionette-diskfull-'));
  // Fails the test (not a skip) when root cannot mount: CI must run it.
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m,mode=0700', 'tmpfs', mnt]);
  mounted = true;
});

afterAll(async () => {
  if (srv) await srv.destroy().catch(() => {});
  if (mounted) execFileSync('umount', ['-l', mnt]);
  if (mnt) rmSync(mnt, { recursive: true, force: true });
});

/**
 * Fills the filesystem of `dir` with one file until ENOSPC, then the rest of server.log's last
 * page (with newlines), so the server's next log line fails too; returns the filler's path.
 */
function fill(dir: string): string {
  const file = join(dir, 'filler');
  appendUntilFull(file, [1 << 20, 1 << 12, 1 << 9], 0x61);
  appendUntilFull(join(dir, 'server.log'), [1 << 9, 1], 0x0a);
  return file;
}

function appendUntilFull(file: string, sizes: number[], byte: number): void {
  const fd = openSync(file, 'a');
  try {
    for (const size of sizes) {
      const chunk = Buffer.alloc(size, byte);
      for (let i = 0; i < 100_000; i++) {
        try {
          writeSync(fd, chunk);
        } catch (e: unknown) {
          if ((e as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw e;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** Writes pools until one is refused with 507 (bounded); returns the names that were stored. */
async function writeUntilRefused(s: ServerHandle, prefix: string): Promise<{ stored: string[]; refusal: Problem }> {
  const stored: string[] = [];
  for (let i = 0; i < 3000; i++) {
    const name = `${prefix}-${i}`;
    const r = await s.api<Problem>('POST', '/v1/pools', { name, mode: 'pool', provider: 'pool' });
    if (r.status === 201) {
      stored.push(name);
      continue;
    }
    expect(r.status).toBe(507);
    expect(r.type).toContain('application/problem+json');
    return { stored, refusal: r.body };
  }
  throw new Error('3000 writes on a full disk all succeeded');
}

async function poolNames(s: ServerHandle): Promise<Set<string>> {
  const r = await s.api<{ items: { name: string }[] } | { name: string }[]>('GET', '/v1/pools');
  expect(r.status).toBe(200);
  const items = Array.isArray(r.body) ? r.body : r.body.items;
  return new Set(items.map((p) => p.name));
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1');
    c.on('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.on('error', () => resolve(false));
  });
}

describe.skipIf(!isRoot)('disk full (tmpfs home)', () => {
  it('keeps answering, says why, refuses writes with 507, recovers when space returns, loses nothing', async () => {
    srv = await startServer({ home: mnt, config: 'server: { log_level: info }\n' });
    const s = srv;
    const before: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await s.api('POST', '/v1/pools', { name: `before-${i}`, mode: 'pool', provider: 'pool' });
      expect(r.status).toBe(201);
      before.push(`before-${i}`);
    }

    const filler = fill(mnt);
    const { stored: duringFill, refusal } = await writeUntilRefused(s, 'fill');
    console.log(`[diskfull] ${duringFill.length} writes fit after the disk filled; then: ${refusal.detail}`);
    expect(refusal.status).toBe(507);
    expect(refusal.type).toBe('https://marionette.dev/problems/insufficient-storage');
    expect(refusal.detail).toMatch(/^disk full: the server cannot store anything now, nothing was written/);
    expect(refusal.hint).toContain('free space');

    // Health answers and says why.
    const h = await s.api<Health>('GET', '/v1/healthz');
    expect(h.status).toBe(503);
    expect(h.body.ok).toBe(false);
    expect(h.body.problems).toContainEqual(expect.objectContaining({ component: 'store', reason: 'disk_full' }));
    // The log line about it could not be written either: the log says so too, and nothing hangs.
    const withLog = await until(async () => {
      const r = await s.api<Health>('GET', '/v1/healthz');
      return r.body.problems.some((p) => p.component === 'log') ? r.body : null;
    }, 'health to report server.log failing');
    expect(withLog.problems).toContainEqual(expect.objectContaining({ component: 'log', reason: 'disk_full' }));
    console.log(`[diskfull] health while full: ${JSON.stringify(withLog.problems)}`);
    // Further writes get the same clear refusal; reads still work; the CLI shows the detail.
    const again = await s.api<Problem>('POST', '/v1/pools', { name: 'refused', mode: 'pool', provider: 'pool' });
    expect(again.status).toBe(507);
    expect(again.body.detail).toMatch(/^disk full/);
    const names = await poolNames(s);
    for (const n of [...before, ...duringFill]) expect(names.has(n)).toBe(true);
    const cli = await s.mctl(['pools', 'create', 'cli-refused', '--mode', 'pool', '--provider', 'pool']);
    expect(cli.code).not.toBe(0);
    expect(cli.stderr).toMatch(/disk full: the server cannot store anything now/);
    expect(cli.stderr).not.toMatch(/\n\s+at /);

    // Space returns: the server recovers by itself.
    rmSync(filler);
    const t0 = Date.now();
    await until(
      async () => (await s.api<Health>('GET', '/v1/healthz')).status === 200,
      'health to recover after space was freed',
      30_000,
    );
    console.log(`[diskfull] recovered ${Date.now() - t0} ms after space was freed`);
    const after = await s.api('POST', '/v1/pools', { name: 'after-0', mode: 'pool', provider: 'pool' });
    expect(after.status).toBe(201);
    const names2 = await poolNames(s);
    for (const n of [...before, ...duringFill, 'after-0']) expect(names2.has(n)).toBe(true);
    expect(names2.has('refused')).toBe(false);

    // Full again, then stopped: the server exits (no ENOSPC loop on the way out), its ports are free.
    const filler2 = fill(mnt);
    const second = await writeUntilRefused(s, 'fill2');
    const stopped = s.stop();
    const exited = await Promise.race([stopped.then(() => true), sleep(20_000).then(() => false)]);
    expect(exited).toBe(true);
    expect(await portOpen(s.apiPort)).toBe(false);
    expect(await portOpen(s.gatewayPort)).toBe(false);

    // A restart with space back finds everything that was stored.
    rmSync(filler2);
    srv = await s.restart();
    const names3 = await poolNames(srv);
    for (const n of [...before, ...duringFill, 'after-0', ...second.stored]) expect(names3.has(n)).toBe(true);
  }, 120_000);
});
