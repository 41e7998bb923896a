/**
 * Agent cards a user manages through `mctl agents`: create (a second create of the same name is
 * refused, not a silent overwrite), update, delete, show, `--env`, and `render`, which prints the
 * exact argv and environment names a task would get; a missing key fails the task with the exact
 * way to provide it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, type ServerHandle, startServer, until } from './harness.js';

let srv: ServerHandle;
beforeAll(async () => {
  srv = await startServer();
});
afterAll(async () => {
  await srv?.destroy();
});

describe('mctl agents', () => {
  it('create, refuse a second create, update, show, render, delete', async () => {
    const create = await srv.mctl([
      'agents',
      'create',
      'echoer',
      '--command',
      '["bash","-c","echo \\"$GREETING $0\\"","{{prompt}}"]',
      '--env',
      'GREETING=hi',
      '--required-env',
      'ECHO_KEY',
      '--task-timeout',
      '5m',
    ]);
    expect(create.code, create.stderr).toBe(0);
    const again = await srv.mctl(['agents', 'create', 'echoer', '--command', '["true","{{prompt}}"]']);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('already exists');
    expect(again.stderr).toContain('mctl agents update echoer');

    const upd = await srv.mctl([
      'agents',
      'update',
      'echoer',
      '--env',
      'GREETING=hello',
      '--description',
      'says hello',
    ]);
    expect(upd.code, upd.stderr).toBe(0);
    const shown = json<{ env: Record<string, string>; description: string; command: string[]; taskTimeoutMs: number }>(
      await srv.mctl(['-o', 'json', 'agents', 'show', 'echoer']),
    );
    expect(shown).toMatchObject({ env: { GREETING: 'hello' }, description: 'says hello', taskTimeoutMs: 300_000 });
    expect(shown.command[0]).toBe('bash');

    const render = await srv.mctl(['agents', 'render', 'echoer', '--prompt', '--model=x say hi']);
    expect(render.code, render.stderr).toBe(0);
    expect(render.stdout).toContain('argv:    ["bash","-c","echo \\"$GREETING $0\\"","--model=x say hi"]');
    expect(render.stdout).toContain('GREETING');
    expect(render.stdout).toContain('timeout: 300s');
    expect(render.stdout).toMatch(/missing: ECHO_KEY: .*MARIONETTE_PASSTHROUGH_ENV=ECHO_KEY.*--env ECHO_KEY=/);

    const claude = json<{ argv: string[]; env: string[] }>(
      await srv.mctl(['-o', 'json', 'agents', 'render', 'claude', '--prompt=--version', '--conversation', 'c-1']),
    );
    expect(claude.argv.slice(-4)).toEqual(['--resume', 'c-1', '--', '--version']);
    expect(claude.env).toContain('IS_SANDBOX');

    const builtIn = await srv.mctl(['agents', 'delete', 'claude']);
    expect(builtIn.code).not.toBe(0);
    expect(builtIn.stderr).toContain('built in');
    const del = await srv.mctl(['agents', 'delete', 'echoer']);
    expect(del.code, del.stderr).toBe(0);
    expect((await srv.mctl(['agents', 'show', 'echoer'])).code).not.toBe(0);
  });

  it('bad input is a clear error', async () => {
    const noPrompt = await srv.mctl(['agents', 'create', 'bad', '--command', '["x"]']);
    expect(noPrompt.stderr).toContain('never uses {{prompt}}');
    const badEnv = await srv.mctl(['agents', 'create', 'bad', '--command', '["x","{{prompt}}"]', '--env', 'NOEQUALS']);
    expect(badEnv.stderr).toContain('expected NAME=value');
    const badTimeout = await srv.mctl([
      'sessions',
      'create',
      '--agent',
      'shell',
      '--prompt',
      'x',
      '--task-timeout',
      'soon',
    ]);
    expect(badTimeout.stderr).toContain('--task-timeout "soon"');
  });

  it('a missing key fails the task with how to provide it', async () => {
    const r = await srv.api<{ id: string; tasks: { id: string }[] }>('POST', '/v1/sessions', {
      agent: 'gemini',
      prompt: 'hi',
    });
    expect(r.status).toBe(201);
    const t = await until(async () => {
      const x = (await srv.api<{ state: string; error: string | null }>('GET', `/v1/tasks/${r.body.tasks[0]!.id}`))
        .body;
      return x.state === 'failed' ? x : null;
    }, 'the task to fail');
    expect(t.error).toContain("GEMINI_API_KEY: set GEMINI_API_KEY in the server's environment");
    expect(t.error).toContain('--env GEMINI_API_KEY=');
  });

  it('a shell task past its session timeout ends timed_out', async () => {
    const r = await srv.mctl([
      '-o',
      'json',
      'sessions',
      'create',
      '--agent',
      'shell',
      '--prompt',
      'sleep 60',
      '--task-timeout',
      '2s',
    ]);
    const s = json<{ id: string }>(r);
    const t = await until(
      async () => {
        const got = (await srv.api<{ tasks: { state: string; error: string }[] }>('GET', `/v1/sessions/${s.id}`)).body;
        return got.tasks[0]?.state === 'timed_out' ? got.tasks[0] : null;
      },
      'the task to time out',
      40_000,
    );
    expect(t.error).toBe('timed out after 2s and killed');
  });
});
