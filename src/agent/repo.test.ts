/** @module Tests for the runner's clone (real git): credentials never reach git's output unredacted, nor the clone's config, nor the temp folder after. */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cloneRepo, displayUrl, redactSecrets } from './repo.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'marionette-repo-test-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('cloneRepo', () => {
  it('redacts the secret from what git prints, and leaves no credential folder behind', async () => {
    const secret = 'sekrit-7c1f0e9a52b3';
    const ws = join(tmp(), 'ws');
    const before = new Set(readdirSync(tmpdir()).filter((n) => n.startsWith('marionette-git-')));
    const lines: string[] = [];
    // git names the missing path in its error, and the path holds the secret: the message must not.
    const r = await cloneRepo(
      {
        url: `file://${tmp()}/${secret}/missing.git`,
        ref: null,
        depth: null,
        fullHistory: false,
        credential: { kind: 'token', username: 'u', secret },
      },
      ws,
      { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmp() },
      (l) => lines.push(l),
    );
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error).toContain('[redacted]');
    expect(r.error).not.toContain(secret);
    expect(lines.join('\n')).not.toContain(secret);
    const after = readdirSync(tmpdir()).filter((n) => n.startsWith('marionette-git-') && !before.has(n));
    expect(after).toEqual([]);
    if (existsSync(join(ws, '.git', 'config')))
      expect(readFileSync(join(ws, '.git', 'config'), 'utf8')).not.toContain(secret);
  });

  it('refuses a workspace that is not empty', async () => {
    const ws = tmp();
    writeFileSync(join(ws, 'x'), 'y');
    const r = await cloneRepo(
      { url: 'file:///nowhere', ref: null, depth: null, fullHistory: false, credential: null },
      ws,
      {},
      () => {},
    );
    expect(r).toMatchObject({ ok: false });
    if (!r.ok) expect(r.error).toContain('is not empty');
  });

  it('an interrupted clone (a .git without the base ref) is cleared and cloned again', async () => {
    const src = tmp();
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: src, GIT_CONFIG_NOSYSTEM: '1' };
    const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, env, encoding: 'utf8' }).trim();
    git(src, 'init', '-q', '-b', 'main');
    writeFileSync(join(src, 'README'), 'hello\n');
    git(src, 'add', 'README');
    git(src, '-c', 'user.name=t', '-c', 'user.email=t@example.invalid', 'commit', '-q', '-m', 'one');
    const head = git(src, 'rev-parse', 'HEAD');
    const ws = tmp();
    git(ws, 'init', '-q'); // what a runner killed in the middle of `git clone` leaves
    writeFileSync(join(ws, 'half-written'), 'x');
    const lines: string[] = [];
    const r = await cloneRepo(
      { url: `file://${src}`, ref: null, depth: null, fullHistory: false, credential: null },
      ws,
      env,
      (l) => lines.push(l),
    );
    expect(r).toEqual({ ok: true, baseCommit: head, cloned: true });
    expect(lines[0]).toBe('the workspace holds an interrupted clone; cloning again');
    expect(existsSync(join(ws, 'half-written'))).toBe(false);
    expect(readFileSync(join(ws, 'README'), 'utf8')).toBe('hello\n');
    // Cloned once: the next task finds the base and clones nothing.
    const again = await cloneRepo(
      { url: `file://${src}`, ref: null, depth: null, fullHistory: false, credential: null },
      ws,
      env,
      () => {},
    );
    expect(again).toEqual({ ok: true, baseCommit: head, cloned: false });
  });

  it('shows URLs without their user part; redacts URL-encoded secrets too', () => {
    expect(displayUrl('https://user:pw@host/x.git')).toBe('https://host/x.git');
    expect(redactSecrets('a p@ss/w b p%40ss%2Fw', ['p@ss/w'])).toBe('a [redacted] b [redacted]');
  });
});
