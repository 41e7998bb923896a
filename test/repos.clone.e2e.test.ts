/**
 * Repositories: a session's repository is cloned into its workspace before the first task, from a
 * local bare repository over file:// and over HTTP (git http-backend on loopback behind basic auth
 * with a token from the org's git credentials): default branch, a branch, a tag, a commit id,
 * depth and full history; the base commit is recorded. A wrong token fails the session's task with
 * git's message and the token nowhere (logs, events, the server log, the workspace's git config).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GitHttp, makeRepo, serveGit, type TestRepo } from './git.support.js';
import { type ServerHandle, startServer, until } from './harness.js';

let srv: ServerHandle;
let repo: TestRepo;
let http: GitHttp;
const TOKEN = 'tok-9f2c61d0a7e34b58-right';
const WRONG = 'tok-0b1e4d7c22aa9e31-wrong';

beforeAll(async () => {
  repo = makeRepo();
  http = await serveGit(repo.root, TOKEN);
  srv = await startServer();
});
afterAll(async () => {
  await srv?.destroy();
  await http?.close();
  repo?.cleanup();
});

interface Finished {
  sessionId: string;
  state: string;
  error: string | null;
  log: string;
}

/** Creates a shell session with `--repo` flags and the prompt; waits for its first task; returns its log. */
async function runSession(repoArgs: string[], prompt: string): Promise<Finished> {
  const r = await srv.mctl(['-o', 'json', 'sessions', 'create', '--agent', 'shell', ...repoArgs, '--prompt', prompt]);
  expect(r.code, r.stderr).toBe(0);
  const s = JSON.parse(r.stdout) as { id: string; tasks: { id: string }[] };
  const taskId = s.tasks[0]!.id;
  const task = await until(
    async () => {
      const t = await srv.api<{ state: string; error: string | null }>('GET', `/v1/tasks/${taskId}`);
      return ['succeeded', 'failed', 'cancelled', 'timed_out'].includes(t.body.state) ? t.body : null;
    },
    `task ${taskId} to finish`,
    90_000,
  );
  const logs = await srv.api<{ items: { line: string; stream: string }[] }>(
    'GET',
    `/v1/tasks/${taskId}/logs?limit=5000`,
  );
  return { sessionId: s.id, state: task.state, error: task.error, log: logs.body.items.map((l) => l.line).join('\n') };
}

const SHOW =
  'echo "HEAD=$(git rev-parse HEAD)"; echo "COUNT=$(git rev-list --count HEAD)"; echo "BRANCHES=$(git branch -r | wc -l)"; echo "TAGS=$(git tag | wc -l)"; cat README';

describe('sessions with a repository', () => {
  it('clones the default branch over file:// and records the base commit', async () => {
    const f = await runSession(['--repo', `file://${repo.bare}`], SHOW);
    expect(f.state, f.log).toBe('succeeded');
    expect(f.log).toContain(`HEAD=${repo.main[2]}`);
    expect(f.log).toContain('COUNT=3');
    expect(f.log).toContain('version 3');
    const ev = await srv.api<{ items: { type: string; data: Record<string, unknown> }[] }>(
      'GET',
      `/v1/sessions/${f.sessionId}/events`,
    );
    const cloned = ev.body.items.find((e) => e.type === 'repo_cloned');
    expect(cloned?.data).toMatchObject({ baseCommit: repo.main[2] });
    // Follow-up tasks run in the same checkout, without cloning again.
    const t = await srv.mctl([
      'tasks',
      'create',
      '--session',
      f.sessionId,
      '--prompt',
      'git rev-parse refs/marionette/base',
      '--follow',
      '--timeout',
      '60s',
    ]);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toContain(repo.main[2]);
    expect(t.stdout).not.toContain('cloning');
  });

  it('checks out a branch, a tag and a commit id; --depth is shallow; --full-history has every branch and tag', async () => {
    const branch = await runSession(['--repo', `file://${repo.bare}`, '--ref', 'feature'], SHOW);
    expect(branch.state, branch.log).toBe('succeeded');
    expect(branch.log).toContain(`HEAD=${repo.feature}`);
    const tag = await runSession(['--repo', `file://${repo.bare}`, '--ref', 'v1'], SHOW);
    expect(tag.state, tag.log).toBe('succeeded');
    expect(tag.log).toContain(`HEAD=${repo.main[0]}`);
    expect(tag.log).toContain('version 1');
    const commit = await runSession(['--repo', `file://${repo.bare}`, '--ref', repo.main[1]!], SHOW);
    expect(commit.state, commit.log).toBe('succeeded');
    expect(commit.log).toContain(`HEAD=${repo.main[1]}`);
    const shallow = await runSession(['--repo', `file://${repo.bare}`, '--depth', '1'], SHOW);
    expect(shallow.state, shallow.log).toBe('succeeded');
    expect(shallow.log).toContain('COUNT=1');
    const full = await runSession(['--repo', `file://${repo.bare}`, '--full-history'], SHOW);
    expect(full.state, full.log).toBe('succeeded');
    expect(full.log).toContain('COUNT=3');
    expect(full.log).toMatch(/BRANCHES=\s*3/); // origin/HEAD, origin/main, origin/feature
    expect(full.log).toContain('TAGS=1');
  });

  it('a ref that does not exist fails the task with git’s message', async () => {
    const f = await runSession(['--repo', `file://${repo.bare}`, '--ref', 'no-such-ref'], 'echo should-not-run');
    expect(f.state).toBe('failed');
    expect(f.error).toMatch(/no-such-ref/);
    expect(f.log).not.toContain('should-not-run');
  });

  it('clones over HTTP with the org’s token for the host; the token is in no log, event or git config', async () => {
    const put = await srv.api('PUT', `/v1/git-credentials/${http.host}`, { kind: 'token', secret: TOKEN });
    expect(put.status).toBe(200);
    expect(JSON.stringify(put.body)).not.toContain(TOKEN);
    const list = await srv.mctl(['git-credentials', 'list']);
    expect(list.stdout).toContain(http.host);
    expect(list.stdout).not.toContain(TOKEN);
    const f = await runSession(['--repo', http.url, '--ref', 'feature'], `${SHOW}; cat .git/config; env`);
    expect(f.state, f.log).toBe('succeeded');
    expect(f.log).toContain(`HEAD=${repo.feature}`);
    expect(http.requests.some((r) => r.authorized)).toBe(true);
    // Not in the workspace's git config, not in the task's environment, not in the log.
    expect(f.log).not.toContain(TOKEN);
    expect(f.log).not.toContain('MARIONETTE_GIT_SECRET');
  });

  it('a wrong token fails with git’s message, the token redacted everywhere', async () => {
    await srv.api('PUT', `/v1/git-credentials/${http.host}`, { kind: 'token', secret: WRONG, username: 'someone' });
    const f = await runSession(['--repo', http.url], 'echo should-not-run');
    expect(f.state).toBe('failed');
    expect(f.error).toMatch(/Authentication failed|401/);
    expect(f.log).not.toContain('should-not-run');
    const ev = await srv.api('GET', `/v1/sessions/${f.sessionId}/events`);
    const session = await srv.api('GET', `/v1/sessions/${f.sessionId}`);
    const serverLog = readFileSync(join(srv.home, 'server.log'), 'utf8');
    for (const text of [f.log, f.error ?? '', JSON.stringify(ev.body), JSON.stringify(session.body), serverLog])
      expect(text).not.toContain(WRONG);
    expect(http.requests.some((r) => !r.authorized)).toBe(true);
  });

  it('refuses a URL with a password in it, an unknown scheme, and --depth with --full-history', async () => {
    const pw = await srv.mctl([
      'sessions',
      'create',
      '--agent',
      'shell',
      '--repo',
      `http://u:${TOKEN}@127.0.0.1:1/x.git`,
    ]);
    expect(pw.code).not.toBe(0);
    expect(pw.stderr).toContain('carries a password');
    expect(pw.stderr).not.toContain(TOKEN);
    const scheme = await srv.mctl(['sessions', 'create', '--agent', 'shell', '--repo', 'ftp://127.0.0.1/x.git']);
    expect(scheme.code).not.toBe(0);
    expect(scheme.stderr).toContain('scheme ftp: is not supported');
    const both = await srv.mctl([
      'sessions',
      'create',
      '--agent',
      'shell',
      '--repo',
      'file:///x',
      '--depth',
      '1',
      '--full-history',
    ]);
    expect(both.code).not.toBe(0);
    expect(both.stderr).toContain('exclude each other');
  });
});
