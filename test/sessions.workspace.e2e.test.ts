/**
 * Working with a session's workspace through its runner: `mctl sessions exec` runs a command there
 * and exits with its code, `diff` prints the changes against the base commit (new files too), and
 * `push` commits what the agent left and pushes it to the local bare repository (over file://, and
 * over HTTP with the org's token), answering the pushed commit. A session without a runner, a
 * session without a repository and a bad branch name are refused with the reason.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GitHttp, makeRepo, serveGit, type TestRepo } from './git.support.js';
import { type ServerHandle, startServer, until } from './harness.js';

let srv: ServerHandle;
let repo: TestRepo;
let http: GitHttp;
const TOKEN = 'tok-push-5d8a0e41c9b27f63';

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

const gitIn = (dir: string, ...args: string[]) => execFileSync('git', args, { cwd: dir, encoding: 'utf8' }).trim();

/** A shell session on `url` whose first task has run `prompt`; resolves once it succeeded. */
async function sessionAfter(url: string, prompt: string): Promise<string> {
  const r = await srv.mctl([
    '-o',
    'json',
    'sessions',
    'create',
    '--agent',
    'shell',
    '--repo',
    url,
    '--prompt',
    prompt,
    '--wait',
    '--timeout',
    '90s',
  ]);
  expect(r.code, r.stderr).toBe(0);
  const s = JSON.parse(r.stdout) as { id: string; tasks: { state: string }[] };
  expect(s.tasks[0]?.state).toBe('succeeded');
  // The session keeps its runner between tasks (idle), so its workspace can be reached.
  await until(async () => {
    const x = await srv.api<{ state: string; runnerId: string | null }>('GET', `/v1/sessions/${s.id}`);
    return x.body.runnerId && x.body.state === 'idle';
  }, 'the session to be idle with its runner');
  return s.id;
}

describe('a session’s workspace', () => {
  it('exec, diff and push over file://', async () => {
    const id = await sessionAfter(`file://${repo.bare}`, 'echo changed >> README; echo new > NEW');
    const ex = await srv.mctl(['sessions', 'exec', id, '--', 'bash', '-c', 'cat NEW; echo to-stderr >&2; exit 3']);
    expect(ex.code).toBe(3);
    expect(ex.stdout).toBe('new\n');
    expect(ex.stderr).toContain('to-stderr');
    // Past the output bound (8 MiB a stream): what is kept is whole up to it, and the answer says so.
    const big = await srv.api<{ exitCode: number; stdout: string; truncated: boolean }>(
      'POST',
      `/v1/sessions/${id}/exec`,
      {
        command: ['bash', '-c', "head -c 12000000 /dev/zero | tr '\\0' a; echo; echo done >&2"],
      },
    );
    expect(big.status).toBe(200);
    expect(big.body.exitCode).toBe(0);
    expect(big.body.truncated).toBe(true);
    // Exactly the first 8 MiB: no gap, nothing from after the cut (the final newline is past it).
    expect(big.body.stdout.length).toBe(8 * 1024 * 1024);
    expect(/^a+$/.test(big.body.stdout)).toBe(true);
    const missing = await srv.mctl(['sessions', 'exec', id, '--', 'no-such-command-here']);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toContain('command not found');

    const diff = await srv.mctl(['sessions', 'diff', id]);
    expect(diff.code, diff.stderr).toBe(0);
    expect(diff.stdout).toContain('+changed');
    expect(diff.stdout).toContain('diff --git a/NEW b/NEW');
    expect(diff.stdout).toContain('+new');

    const bad = await srv.mctl(['sessions', 'push', id, '--branch', '../evil']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('not a valid branch name');
    const push = await srv.mctl([
      '-o',
      'json',
      'sessions',
      'push',
      id,
      '--branch',
      'agent/work',
      '--author',
      'Agent Smith <smith@example.invalid>',
      '-m',
      'agent work',
    ]);
    expect(push.code, push.stderr).toBe(0);
    const { commit } = JSON.parse(push.stdout) as { commit: string };
    expect(gitIn(repo.bare, 'rev-parse', 'refs/heads/agent/work')).toBe(commit);
    expect(gitIn(repo.bare, 'show', `${commit}:NEW`)).toBe('new');
    expect(gitIn(repo.bare, 'log', '-1', '--format=%an <%ae> %s', commit)).toBe(
      'Agent Smith <smith@example.invalid> agent work',
    );
    expect(gitIn(repo.bare, 'rev-parse', `${commit}^`)).toBe(repo.main[2]);
    // Nothing left to commit, but HEAD is ahead of the base: pushing again is allowed (same commit).
    const again = await srv.mctl(['-o', 'json', 'sessions', 'push', id, '--branch', 'agent/again']);
    expect(again.code, again.stderr).toBe(0);
    expect((JSON.parse(again.stdout) as { commit: string }).commit).toBe(commit);
  });

  it('push over HTTP with the org’s token; the token appears in no answer', async () => {
    await srv.api('PUT', `/v1/git-credentials/${http.host}`, { kind: 'token', secret: TOKEN });
    const id = await sessionAfter(http.url, 'echo over-http > HTTPFILE');
    const push = await srv.mctl(['-o', 'json', 'sessions', 'push', id, '--branch', 'agent/http']);
    expect(push.code, push.stderr).toBe(0);
    expect(push.stdout + push.stderr).not.toContain(TOKEN);
    const { commit } = JSON.parse(push.stdout) as { commit: string };
    expect(gitIn(repo.bare, 'show', `${commit}:HTTPFILE`)).toBe('over-http');
  });

  it('refuses a session without a repository (diff, push) and a session that ended (exec)', async () => {
    const r = await srv.mctl([
      '-o',
      'json',
      'sessions',
      'create',
      '--agent',
      'shell',
      '--prompt',
      'true',
      '--wait',
      '--timeout',
      '60s',
    ]);
    const id = (JSON.parse(r.stdout) as { id: string }).id;
    await until(
      async () => (await srv.api<{ runnerId: string | null }>('GET', `/v1/sessions/${id}`)).body.runnerId,
      'runner',
    );
    const diff = await srv.mctl(['sessions', 'diff', id]);
    expect(diff.code).not.toBe(0);
    expect(diff.stderr).toContain('no base commit');
    const push = await srv.mctl(['sessions', 'push', id, '--branch', 'x']);
    expect(push.code).not.toBe(0);
    expect(push.stderr).toContain('has no repository to push to');
    await srv.mctl(['sessions', 'cancel', id]);
    await until(
      async () => (await srv.api<{ state: string }>('GET', `/v1/sessions/${id}`)).body.state === 'cancelled',
      'cancelled',
    );
    const ex = await srv.mctl(['sessions', 'exec', id, '--', 'true']);
    expect(ex.code).not.toBe(0);
    expect(ex.stderr).toContain('holds no runner');
  });
});
