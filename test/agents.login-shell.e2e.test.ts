/**
 * The built-in `shell` agent runs `bash -c`: its tasks do not read the login profile (a login
 * shell costs every task the profile's run time). A card with `login_shell: true` (marionette.yaml)
 * or `loginShell: true` (API) runs its command inside a login shell, for tools set up only in the
 * login profile, with each argument (a prompt like `--version` or with quotes) passed through intact.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerHandle, startServer, until } from './harness.js';

let srv: ServerHandle;
let marker: string;
// biome-ignore lint/suspicious/noTemplateCurlyInString: a shell expansion, not a template
const PROBE = 'printf "%s|%s" "${FROM_PROFILE:-unset}" "$1" > "$OUT"';

beforeAll(async () => {
  // The runners' HOME is never the server's: here it is one given in the config (by default each
  // runner has its own), with a login profile that leaves a mark.
  const home = mkdtempSync(join(tmpdir(), 'marionette-test-'));
  const runnerHome = join(home, 'runner-home');
  mkdirSync(runnerHome, { recursive: true });
  srv = await startServer({
    home,
    config: `agents:
  probe-login:
    command: ["bash", "-c", ${JSON.stringify(PROBE)}, "probe", "{{prompt}}"]
    login_shell: true
providers:
  local:
    runner_home: ${JSON.stringify(runnerHome)}
`,
  });
  marker = join(srv.home, 'profile-sourced');
  writeFileSync(
    join(runnerHome, '.bash_profile'),
    `echo sourced >> ${JSON.stringify(marker)}\nexport FROM_PROFILE=yes\n`,
  );
});
afterAll(async () => {
  await srv?.destroy();
});

async function runTask(agent: string, prompt: string, env: Record<string, string> = {}): Promise<void> {
  const r = await srv.api<{ id: string; tasks: { id: string }[] }>('POST', '/v1/sessions', { agent, prompt, env });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  const t = await until(async () => {
    const x = (await srv.api<{ state: string; error: string | null }>('GET', `/v1/tasks/${r.body.tasks[0]!.id}`)).body;
    return ['succeeded', 'failed', 'timed_out', 'cancelled'].includes(x.state) ? x : null;
  }, `the ${agent} task to end`);
  expect(t, JSON.stringify(t)).toMatchObject({ state: 'succeeded' });
}

describe('login shell', () => {
  it('the shell agent runs bash -c: the login profile is not read', async () => {
    const out = join(srv.home, 'shell-out');
    await runTask('shell', `printf %s "\${FROM_PROFILE:-unset}" > ${JSON.stringify(out)}`);
    expect(readFileSync(out, 'utf8')).toBe('unset');
    expect(existsSync(marker)).toBe(false);
    const card = (await srv.api<{ command: string[] }>('GET', '/v1/agents/shell')).body;
    expect(card.command).toEqual(['bash', '-c', '--', '{{prompt}}']);
  });

  it('a card with login_shell reads the profile, and its argv reaches the command intact', async () => {
    rmSync(marker, { force: true });
    const out = join(srv.home, 'login-out');
    const prompt = `--version it's "quoted" $HOME`;
    await runTask('probe-login', prompt, { OUT: out });
    expect(readFileSync(out, 'utf8')).toBe(`yes|${prompt}`);
    expect(readFileSync(marker, 'utf8')).toBe('sourced\n');
    const render = await srv.api<{ argv: string[] }>('POST', '/v1/agents/probe-login/render', { prompt: 'p' });
    expect(render.body.argv).toEqual(['bash', '-lc', 'exec "$@"', 'bash', 'bash', '-c', PROBE, 'probe', 'p']);
  });

  it('loginShell through the API, and a card without it reads no profile', async () => {
    for (const [name, loginShell] of [
      ['api-login', true],
      ['api-plain', false],
    ] as const) {
      const r = await srv.api('POST', '/v1/agents', {
        name,
        command: ['bash', '-c', PROBE, 'probe', '{{prompt}}'],
        loginShell,
      });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
    }
    expect((await srv.api<{ loginShell?: boolean }>('GET', '/v1/agents/api-login')).body.loginShell).toBe(true);
    rmSync(marker, { force: true });
    const plain = join(srv.home, 'plain-out');
    await runTask('api-plain', 'x', { OUT: plain });
    expect(readFileSync(plain, 'utf8')).toBe('unset|x');
    expect(existsSync(marker)).toBe(false);
    const login = join(srv.home, 'api-login-out');
    await runTask('api-login', 'y', { OUT: login });
    expect(readFileSync(login, 'utf8')).toBe('yes|y');
    expect(existsSync(marker)).toBe(true);
    const bad = await srv.api<{ detail: string }>('POST', '/v1/agents', {
      name: 'bad-login',
      command: ['true', '{{prompt}}'],
      loginShell: 'yes',
    });
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toContain('loginShell');
  });

  it('mctl agents create --login-shell, update --no-login-shell, and show says so', async () => {
    const made = await srv.mctl([
      'agents',
      'create',
      'cli-login',
      '--command',
      '["bash","-c","true","x","{{prompt}}"]',
      '--login-shell',
    ]);
    expect(made.code, made.stderr).toBe(0);
    expect((await srv.api<{ loginShell?: boolean }>('GET', '/v1/agents/cli-login')).body.loginShell).toBe(true);
    const shown = await srv.mctl(['agents', 'show', 'cli-login']);
    expect(shown.stdout).toContain('login shell: yes');
    const kept = await srv.mctl(['agents', 'update', 'cli-login', '--description', 'kept']);
    expect(kept.code, kept.stderr).toBe(0);
    expect((await srv.api<{ loginShell?: boolean }>('GET', '/v1/agents/cli-login')).body.loginShell).toBe(true);
    const off = await srv.mctl(['agents', 'update', 'cli-login', '--no-login-shell']);
    expect(off.code, off.stderr).toBe(0);
    expect((await srv.api<{ loginShell?: boolean }>('GET', '/v1/agents/cli-login')).body.loginShell).toBeFalsy();
    const render = await srv.api<{ argv: string[] }>('POST', '/v1/agents/cli-login/render', { prompt: 'p' });
    expect(render.body.argv).toEqual(['bash', '-c', 'true', 'x', 'p']);
  });
});
