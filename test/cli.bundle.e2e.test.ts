/**
 * What the built `mctl` loads, and its code cache (src/compile-cache.ts). What it loads: a person waits for every module a command loads, so the bundle
 * (dist/mctl/, see rolldown.config.mjs) keeps what a command does not use off its path. Checked
 * through Node's own list of the built-in modules a process loaded (`process.moduleLoadList`),
 * printed by a preload at exit, for a list command against a port nothing listens on (the
 * connection is refused: the command's whole path runs, and ends at once).
 */
import { execFile } from 'node:child_process';
import {
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'mctl-bundle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The built-in modules `mctl ...args` loaded, and its stderr. */
function loaded(
  args: string[],
  home = dir,
  env: Record<string, string> = {},
): Promise<{ modules: string[]; stderr: string }> {
  const preload = join(dir, 'modules.cjs');
  writeFileSync(
    preload,
    "process.on('exit', () => require('node:fs').writeSync(2, '\\nMODULES ' + JSON.stringify(process.moduleLoadList) + '\\n'));\n",
  );
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--require', preload, BIN.mctl, ...args],
      { env: { ...process.env, XDG_CACHE_HOME: '', MARIONETTE_HOME: home, HOME: home, ...env }, timeout: 60_000 },
      (_err, _stdout, stderr) => {
        const line = /^MODULES (.*)$/m.exec(stderr);
        if (!line) return reject(new Error(`no module list in mctl's stderr: ${stderr}`));
        const modules = (JSON.parse(line[1]!) as string[])
          .filter((m) => m.startsWith('NativeModule '))
          .map((m) => m.slice('NativeModule '.length));
        resolve({ modules, stderr });
      },
    );
  });
}

describe('the mctl bundle', () => {
  it('runs a list command without loading child_process (commander requires it for a feature mctl does not use)', async () => {
    const r = await loaded(['pools', 'list', '--server', 'http://127.0.0.1:1', '--token', 't']);
    // The command ran to its request: it says the server is unreachable.
    expect(r.stderr).toMatch(/mctl: .*127\.0\.0\.1:1/);
    expect(r.modules).toContain('http');
    expect(r.modules).not.toContain('child_process');
    expect(r.modules).not.toContain('dgram');
  });
});

/** A list command against a port nothing listens on: it runs its whole path and says so. */
const LIST = ['pools', 'list', '--server', 'http://127.0.0.1:1', '--token', 't'];
const UNREACHABLE = /mctl: cannot reach the Marionette server at http:\/\/127\.0\.0\.1:1/;

describe("mctl's code cache", () => {
  it('is written once, 0600 in a 0700 folder of the home, and used by the next command', async () => {
    const home = mkdtempSync(join(dir, 'home-'));
    const cache = join(home, '.cache', 'marionette');
    expect((await loaded(LIST, home)).stderr).toMatch(UNREACHABLE);
    const files = readdirSync(cache);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^cli-.*-v8-.*\.bin$/);
    expect(statSync(cache).mode & 0o777).toBe(0o700);
    const file = join(cache, files[0]!);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const first = statSync(file).mtimeMs;
    // The next command runs from it (V8 accepted it, so it is not written again) and works alike.
    expect((await loaded(['pools', '--help'], home)).stderr).not.toMatch(/Error/);
    expect((await loaded(LIST, home)).stderr).toMatch(UNREACHABLE);
    expect(statSync(file).mtimeMs).toBe(first);
  });

  it('ignores a cache V8 rejects (written again) and one another user owns (never read)', async () => {
    const home = mkdtempSync(join(dir, 'home-'));
    const cache = join(home, '.cache', 'marionette');
    await loaded(LIST, home);
    const file = join(cache, readdirSync(cache)[0]!);
    const good = readFileSync(file);
    const garbage = Buffer.alloc(good.length, 7);
    writeFileSync(file, garbage);
    expect((await loaded(LIST, home)).stderr).toMatch(UNREACHABLE);
    expect(readFileSync(file).equals(garbage)).toBe(false);
    // Another user's file: not read (garbage would do nothing worse than be rejected, but compiled
    // code from someone else is never run), and replaced by this user's own.
    writeFileSync(file, Buffer.alloc(good.length, 7));
    if (process.getuid?.() === 0) {
      chownSync(file, 12345, 12345);
      expect((await loaded(LIST, home)).stderr).toMatch(UNREACHABLE);
      expect(statSync(file).uid).toBe(0);
    }
  });

  it("removes other builds' files not written for a day when it writes its own, and keeps recent ones", async () => {
    const home = mkdtempSync(join(dir, 'home-'));
    const cache = join(home, '.cache', 'marionette');
    mkdirSync(cache, { recursive: true, mode: 0o700 });
    const old = join(cache, 'cli-OLDBUILD-v8-1.0-x64.bin');
    const recent = join(cache, 'cli-OTHERBUILD-v8-1.0-x64.bin');
    const unrelated = join(cache, 'notes.txt');
    for (const f of [old, recent, unrelated]) writeFileSync(f, 'x');
    const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3600_000);
    utimesSync(old, twoDaysAgo, twoDaysAgo);
    utimesSync(unrelated, twoDaysAgo, twoDaysAgo);
    expect((await loaded(LIST, home)).stderr).toMatch(UNREACHABLE);
    expect(existsSync(old)).toBe(false);
    expect(existsSync(recent)).toBe(true);
    expect(existsSync(unrelated)).toBe(true);
    expect(readdirSync(cache).filter((f) => f.startsWith('cli-') && !f.includes('BUILD'))).toHaveLength(1);
  });

  it('is off with MARIONETTE_COMPILE_CACHE=0, and a home it cannot write only costs the cache', async () => {
    const home = mkdtempSync(join(dir, 'home-'));
    expect((await loaded(LIST, home, { MARIONETTE_COMPILE_CACHE: '0' })).stderr).toMatch(UNREACHABLE);
    expect(existsSync(join(home, '.cache'))).toBe(false);
    // XDG_CACHE_HOME names a file, not a folder: the cache cannot be made, the command still works.
    const notDir = join(home, 'file');
    writeFileSync(notDir, '');
    expect((await loaded(LIST, home, { XDG_CACHE_HOME: notDir })).stderr).toMatch(UNREACHABLE);
  });
});
