/**
 * `mctl sessions cp` on a local session: files and directories in and out of its workspace (into
 * an existing directory they keep their name, elsewhere they take the one given), a binary file
 * bigger than many frames comes back byte for byte, `-` writes the tar to stdout; a missing path
 * (either side), a path leading outside the workspace (by `..` or through a symlink) and a session
 * with no live runner are refused with the reason, never a stack trace, and leave nothing behind.
 */

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerHandle, startServer, until } from './harness.js';

let srv: ServerHandle;
let here: string;
beforeAll(async () => {
  srv = await startServer();
  here = mkdtempSync(join(tmpdir(), 'mctl-cp-'));
});
afterAll(async () => {
  await srv?.destroy();
  if (here) rmSync(here, { recursive: true, force: true });
});

async function idleSession(): Promise<string> {
  const r = await srv.mctl([
    '-o',
    'json',
    'sessions',
    'create',
    '--agent',
    'shell',
    '--prompt',
    'echo w > w.txt',
    '--wait',
  ]);
  expect(r.code, r.stderr).toBe(0);
  const id = (JSON.parse(r.stdout) as { id: string }).id;
  await until(async () => {
    const s = await srv.api<{ state: string; runnerId: string | null }>('GET', `/v1/sessions/${id}`);
    return s.body.runnerId && s.body.state === 'idle';
  }, 'the session to be idle with its runner');
  return id;
}

const sh = async (id: string, script: string) => {
  const r = await srv.mctl(['sessions', 'exec', id, '--', 'bash', '-c', script]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
};

describe('mctl sessions cp', () => {
  it('copies files and directories both ways, byte for byte', async () => {
    const id = await idleSession();
    writeFileSync(join(here, 'a.txt'), 'alpha\n');
    mkdirSync(join(here, 'tree', 'sub'), { recursive: true });
    writeFileSync(join(here, 'tree', 'top.txt'), 'top\n');
    writeFileSync(join(here, 'tree', 'sub', 'deep.txt'), 'deep\n');
    const big = randomBytes(3 * 1024 * 1024 + 17);
    writeFileSync(join(here, 'big.bin'), big);

    for (const [src, dst] of [
      [join(here, 'a.txt'), `${id}:a.txt`],
      [join(here, 'a.txt'), `${id}:renamed.txt`],
      [join(here, 'tree'), `${id}:.`],
      [join(here, 'big.bin'), `${id}:tree`],
    ] as const) {
      const r = await srv.mctl(['sessions', 'cp', src, dst]);
      expect(r.code, r.stderr).toBe(0);
    }
    expect(await sh(id, 'cat a.txt renamed.txt tree/top.txt tree/sub/deep.txt; wc -c < tree/big.bin')).toBe(
      `alpha\nalpha\ntop\ndeep\n${big.length}\n`,
    );

    // Out: a file to a new name, a directory into an existing one, the big file, and a prefix of the id.
    const outDir = join(here, 'out');
    mkdirSync(outDir);
    const prefix = id.slice(0, id.length - 3);
    for (const [src, dst] of [
      [`${id}:w.txt`, join(outDir, 'w-copy.txt')],
      [`${prefix}:tree`, outDir],
      [`${id}:tree`, join(here, 'tree-again')],
    ] as const) {
      const r = await srv.mctl(['sessions', 'cp', src, dst]);
      expect(r.code, r.stderr).toBe(0);
    }
    expect(readFileSync(join(outDir, 'w-copy.txt'), 'utf8')).toBe('w\n');
    expect(readFileSync(join(outDir, 'tree', 'sub', 'deep.txt'), 'utf8')).toBe('deep\n');
    expect(readFileSync(join(outDir, 'tree', 'big.bin')).equals(big)).toBe(true);
    expect(readFileSync(join(here, 'tree-again', 'top.txt'), 'utf8')).toBe('top\n');
    // No staging directory is left behind.
    expect(readdirSync(here).filter((n) => n.startsWith('.mctl-cp-'))).toEqual([]);

    // `-`: the tar on stdout.
    const tarFile = join(here, 'w.tar');
    const t = await srv.mctl(['sessions', 'cp', `${id}:w.txt`, '-']);
    expect(t.code, t.stderr).toBe(0);
    writeFileSync(tarFile, t.stdout, 'latin1');
    expect(execFileSync('tar', ['-tf', tarFile], { encoding: 'utf8' })).toBe('w.txt\n');
    await srv.mctl(['sessions', 'cancel', id]);
  });

  it('refuses missing paths, paths outside the workspace, and a session with no runner', async () => {
    const id = await idleSession();
    await sh(id, 'ln -s / escape');
    const cases: [string[], string][] = [
      [[`${id}:no-such.txt`, join(here, 'x')], 'no-such.txt: no such file or directory'],
      [[`${id}:../../etc/passwd`, join(here, 'x')], 'leads outside the session'],
      [[`${id}:escape/etc/passwd`, join(here, 'x')], 'through a symlink'],
      [[`${id}:/etc/passwd`, join(here, 'x')], 'outside the session'],
      [[join(here, 'missing-local'), `${id}:x`], 'missing-local: no such file or directory'],
      [[join(here, 'a.txt'), `${id}:no-dir/x.txt`], 'does not exist in the session'],
      [[join(here, 'a.txt'), `${id}:../x.txt`], 'leads outside the session'],
      [[join(here, 'a.txt'), join(here, 'b.txt')], 'neither side names a session'],
      [[`${id}:w.txt`, join(here, 'no-dir', 'x')], 'does not exist'],
    ];
    writeFileSync(join(here, 'a.txt'), 'alpha\n');
    for (const [args, says] of cases) {
      const r = await srv.mctl(['sessions', 'cp', ...args]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toContain(says);
      expect(r.stderr).not.toContain('    at ');
    }
    expect(readdirSync(here).filter((n) => n === 'x' || n.startsWith('.mctl-cp-'))).toEqual([]);
    // Nothing was written outside the workspace.
    expect(await sh(id, 'ls -a ..')).not.toContain('x.txt');

    await srv.mctl(['sessions', 'cancel', id]);
    await until(async () => {
      const s = await srv.api<{ state: string }>('GET', `/v1/sessions/${id}`);
      return s.body.state === 'cancelled';
    }, 'the session to be cancelled');
    const gone = await srv.mctl(['sessions', 'cp', join(here, 'a.txt'), `${id}:a.txt`]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('holds no runner');
    const goneOut = await srv.mctl(['sessions', 'cp', `${id}:w.txt`, join(here, 'y')]);
    expect(goneOut.code).toBe(1);
    expect(goneOut.stderr).toContain('holds no runner');
  });
});
