/**
 * Bad input on the API, the CLI and the config file: a clear 4xx problem+json (or exit code)
 * naming what was wrong, and nothing written.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, run, type ServerHandle, startServer } from './harness.js';
import { expectProblem, oversized } from './problems.support.js';

let srv: ServerHandle;
beforeAll(async () => {
  srv = await startServer();
});
afterAll(async () => {
  await srv?.destroy();
});

async function counts(): Promise<{ sessions: number; tasks: number }> {
  const s = await srv.api<{ items: unknown[] }>('GET', '/v1/sessions?limit=1000');
  const t = await srv.api<{ items: unknown[] }>('GET', '/v1/tasks?limit=1000');
  return { sessions: s.body.items.length, tasks: t.body.items.length };
}

describe('API bad input', () => {
  it('rejects each bad request with a problem naming the fault, writing nothing', async () => {
    const before = await counts();
    expectProblem(
      await srv.api('POST', '/v1/sessions', { agent: 'nope', prompt: 'x' }),
      400,
      /unknown agent "nope"; known agents: claude, codex, gemini, opencode, shell/,
    );
    expectProblem(await srv.api('POST', '/v1/sessions', '{"agent": "shell", "prompt": '), 400, /malformed JSON body/);
    expectProblem(
      await srv.api('POST', '/v1/sessions', { agent: 'shell', prompt: 'x', colour: 'red' }),
      400,
      /unknown field "colour"/,
    );
    expectProblem(await srv.api('POST', '/v1/sessions', { prompt: 'x' }), 400, /agent/);
    expectProblem(await srv.api('POST', '/v1/sessions', { agent: 'shell', prompt: 42 }), 400, /prompt/);
    expectProblem(
      await srv.api('POST', '/v1/sessions', { agent: 'shell', prompt: 'x'.repeat(300 * 1024) }),
      400,
      /prompt is 307200 bytes; the limit is 262144 bytes/,
    );
    expectProblem(await oversized(srv, '/v1/sessions', 2 * 1024 * 1024), 413, /over the \d+ byte limit/);
    expectProblem(
      await srv.api('POST', '/v1/sessions', { agent: 'shell', selector: 'gpu=nvidia,vram>>16GB' }),
      400,
      /column \d+/,
    );
    expectProblem(await srv.api('POST', '/v1/sessions', { agent: 'shell', authMode: 'root' }), 400, /authMode/);
    expect(await counts()).toEqual(before);
  });

  it('requires a valid bearer token', async () => {
    const before = await counts();
    expectProblem(await srv.api('GET', '/v1/sessions', undefined, null), 401, /missing bearer token/);
    expectProblem(
      await srv.api('POST', '/v1/sessions', { agent: 'shell', prompt: 'x' }, 'mrt_wrong'),
      401,
      /invalid API token: no such token/,
    );
    expect(await counts()).toEqual(before);
  });

  it('answers unknown routes and ids with 404 problems', async () => {
    expectProblem(await srv.api('GET', '/v1/nothing'), 404, /route/);
    expectProblem(await srv.api('GET', '/v1/sessions/ses_missing'), 404, /session "ses_missing" not found/);
    expectProblem(await srv.api('POST', '/v1/tasks/tsk_missing/cancel'), 404, /task "tsk_missing" not found/);
    expectProblem(await srv.api('POST', '/v1/sessions/ses_missing/tasks', { prompt: 'x' }), 404, /not found/);
  });

  it('serves an OpenAPI document without auth', async () => {
    const r = await srv.api<{ openapi: string; paths: Record<string, unknown> }>(
      'GET',
      '/v1/openapi.json',
      undefined,
      null,
    );
    expect(r.status).toBe(200);
    expect(r.body.openapi).toBe('3.1.0');
    for (const p of [
      '/v1/sessions',
      '/v1/sessions/{id}',
      '/v1/sessions/{id}/logs',
      '/v1/tasks/{id}/cancel',
      '/v1/runners',
      '/v1/pools',
      '/v1/agents',
    ])
      expect(Object.keys(r.body.paths)).toContain(p);
  });
});

describe('CLI bad input', () => {
  it('says which token is missing, without a stack trace', async () => {
    const r = await run(BIN.mctl, ['sessions', 'list'], {
      MARIONETTE_SERVER: srv.apiUrl,
      MARIONETTE_TOKEN: 'mrt_wrong',
      MARIONETTE_HOME: '/nonexistent',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('invalid API token: no such token');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('says when the server is unreachable', async () => {
    const r = await run(BIN.mctl, ['sessions', 'list'], {
      MARIONETTE_SERVER: 'http://127.0.0.1:1',
      MARIONETTE_TOKEN: 'x',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cannot reach the Marionette server at http://127.0.0.1:1');
  });
});

describe('config file', () => {
  it('exits non-zero naming the bad key and why', async () => {
    const file = join(srv.home, 'bad.yaml');
    writeFileSync(file, 'server:\n  port: 99999\nrunners:\n  lease_timeout: soon\nbogus: 1\n');
    const r = await run(BIN.marionette, ['serve', '--config', file, '--home', join(srv.home, 'other')], {}, 20_000);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('server.port');
    expect(r.stderr).toContain('runners.lease_timeout: invalid duration "soon"');
    expect(r.stderr).toContain('unknown key bogus');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses a bad port in the environment', async () => {
    const r = await run(
      BIN.marionette,
      ['serve', '--home', join(srv.home, 'other2')],
      { MARIONETTE_PORT: 'eighty' },
      20_000,
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('MARIONETTE_PORT: "eighty" is not a port number');
  });
});
