import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../src/protocol/messages.js';
import { registerOnGateway, type ServerHandle, startServer } from './harness.js';
import { testDatabases } from './pg.support.js';
import { expectProblem } from './problems.support.js';

/** POST /v1/register on a server's gateway socket (how a runner joins). */
function register(srv: ServerHandle, body: unknown): Promise<{ status: number; body: { message?: string } }> {
  return registerOnGateway(srv, body);
}

for (const db of testDatabases('api inputs')) {
  describe(`API input limits (${db.name})`, () => {
    let srv: ServerHandle;
    let drop = async () => {};
    beforeAll(async () => {
      const opened = await db.open();
      drop = opened.drop;
      // No warm runner: the test compares pool snapshots (runner counts included) before and after.
      srv = await startServer({ env: opened.env, config: 'providers:\n  local:\n    warm_runners: 0\n' });
      // A pool for tokens to be minted on.
      expect((await srv.api('POST', '/v1/pools', { name: 'joined', mode: 'pool', provider: 'pool' })).status).toBe(201);
    });
    afterAll(async () => {
      await srv?.destroy();
      await drop();
    });

    /** Everything a refused request could have written. */
    async function written() {
      const get = async (path: string) => (await srv.api<{ items: unknown[] }>('GET', path)).body.items;
      return {
        sessions: await get('/v1/sessions?limit=1000'),
        tasks: await get('/v1/tasks?limit=1000'),
        pools: await get('/v1/pools'),
        tokens: await get('/v1/runners/tokens'),
        profiles: await get('/v1/profiles'),
      };
    }

    it('refuses a NUL byte in ids, query values and body strings with a 400 naming the field', async () => {
      const before = await written();
      const nulIn = /contains a NUL byte/;
      for (const path of [
        '/v1/sessions/ses_%00x',
        '/v1/sessions/ses_%00x/events',
        '/v1/sessions/ses_%00x/logs',
        '/v1/tasks/tsk_%00x',
        '/v1/tasks/tsk_%00x/logs',
        '/v1/runners/run_%00x',
        '/v1/pools/p%00x',
        '/v1/profiles/p%00x',
        '/v1/agents/a%00x',
      ])
        expectProblem(await srv.api('GET', path), 400, /^path: (id|name) contains a NUL byte/);
      expectProblem(await srv.api('POST', '/v1/sessions/ses_%00x/cancel', {}), 400, nulIn);
      expectProblem(await srv.api('POST', '/v1/tasks/tsk_%00x/cancel', {}), 400, nulIn);
      expectProblem(await srv.api('POST', '/v1/runners/tokens/rgt_%00x/revoke', {}), 400, nulIn);
      expectProblem(await srv.api('DELETE', '/v1/pools/p%00x'), 400, nulIn);
      for (const path of [
        '/v1/sessions?state=a%00b',
        '/v1/tasks?session=a%00b',
        '/v1/tasks?state=queued%00',
        '/v1/runners?pool=a%00b',
        '/v1/runners/tokens?pool=a%00b',
        '/v1/costs?session=a%00b',
      ])
        expectProblem(await srv.api('GET', path), 400, /^query: [a-z]+ contains a NUL byte/);
      const bodies: [string, string, unknown, RegExp][] = [
        ['POST', '/v1/sessions', { agent: 'shell', prompt: 'echo a\u0000b' }, /^body: prompt contains a NUL byte/],
        ['POST', '/v1/sessions', { agent: 'shell', env: { A: 'x\u0000' } }, /^body: env\.A contains a NUL byte/],
        ['POST', '/v1/sessions', { agent: 'sh\u0000ell' }, /^body: agent contains/],
        ['POST', '/v1/sessions', { agent: 'shell', selector: 'a=b\u0000' }, /^body: selector contains/],
        ['POST', '/v1/sessions', { agent: 'shell', pool: 'lo\u0000cal' }, /^body: pool contains/],
        ['POST', '/v1/pools', { name: 'x', labels: { a: 'b\u0000' } }, /^body: labels\.a contains/],
        [
          'POST',
          '/v1/pools',
          { name: 'x', sandboxConfig: { 'k\u0000': 1 } },
          /^body: sandboxConfig\."k\\u0000" \(a key\)/,
        ],
        ['POST', '/v1/runners/tokens', { pool: 'joined', description: 'd\u0000' }, /^body: description contains/],
        ['POST', '/v1/profiles', { name: 'p', selector: 'a=\u0000' }, /^body: selector contains/],
        ['POST', '/v1/agents', { name: 'a', command: ['bash', '-c', '\u0000'] }, /^body: command\[2\] contains/],
      ];
      for (const [method, path, body, detail] of bodies) expectProblem(await srv.api(method, path, body), 400, detail);
      const s = await srv.api<{ id: string }>('POST', '/v1/sessions', { agent: 'shell', selector: 'nosuch=1' });
      expect(s.status).toBe(201);
      expectProblem(
        await srv.api('POST', `/v1/sessions/${s.body.id}/tasks`, { prompt: '\u0000' }),
        400,
        /^body: prompt contains a NUL byte/,
      );
      await srv.api('POST', `/v1/sessions/${s.body.id}/cancel`, {});
      const after = await written();
      expect(after.sessions).toHaveLength(before.sessions.length + 1);
      expect(after.tasks).toEqual(before.tasks);
      expect(after.pools).toEqual(before.pools);
      expect(after.tokens).toEqual(before.tokens);
      expect(after.profiles).toEqual(before.profiles);
    });

    it('bounds every duration to 3650 days and every 32-bit integer to its range, naming the field', async () => {
      const before = await written();
      const range = /out of range; a duration here is 0 to 87600h \(315360000 seconds\)/;
      const cases: [string, string, unknown, RegExp][] = [
        ['POST', '/v1/runners/tokens', { pool: 'joined', expiresIn: 1e308 }, /^expiresIn: 1e\+308 is out of range/],
        [
          'POST',
          '/v1/runners/tokens',
          { pool: 'joined', expiresIn: '99999999999999999999d' },
          /^expiresIn: .*out of range/,
        ],
        ['POST', '/v1/runners/tokens', { pool: 'joined', expiresIn: '3651d' }, range],
        ['POST', '/v1/runners/tokens', { pool: 'joined', expiresIn: -1 }, /^expiresIn: -1 is not a duration/],
        ['POST', '/v1/runners/register', { pool: 'joined', expiresIn: 1e20 }, /^expiresIn: .*out of range/],
        ['POST', '/v1/pools', { name: 'x', idleTimeout: 1e308 }, /^idle_timeout: .*out of range/],
        [
          'POST',
          '/v1/pools',
          { name: 'x', suspendConfig: { minDuration: '1e308' } },
          /^suspend_config\.min_duration: .*not a duration/,
        ],
        [
          'POST',
          '/v1/pools',
          { name: 'x', suspendConfig: { maxDuration: 4e9 } },
          /^suspend_config\.max_duration: .*out of range/,
        ],
        [
          'POST',
          '/v1/pools',
          { name: 'x', priority: 3e9 },
          /^priority: 3000000000 is out of range; it is an integer from -1000 to 1000/,
        ],
        [
          'POST',
          '/v1/pools',
          { name: 'x', maxRunners: 3e9 },
          /^max_runners: 3000000000 is out of range; it is an integer from 0 to 10000/,
        ],
        [
          'POST',
          '/v1/pools',
          { name: 'x', minRunners: 20_000, maxRunners: null },
          /^min_runners: 20000 is out of range/,
        ],
        ['PATCH', '/v1/pools/joined', { priority: -3e9 }, /^priority: -3000000000 is out of range/],
        ['POST', '/v1/sessions', { agent: 'shell', priority: 3e9 }, /priority/],
        ['GET', '/v1/sessions?limit=1e9', undefined, /limit/],
        ['GET', '/v1/tasks/x/logs?after=1e300', undefined, /after/],
      ];
      for (const [method, path, body, detail] of cases) expectProblem(await srv.api(method, path, body), 400, detail);
      const tokens = await srv.api<{ items: { id: string }[] }>('GET', '/v1/runners/tokens');
      const tok = await srv.api<{ id: string; expiresAt: number }>('POST', '/v1/runners/tokens', {
        pool: 'joined',
        expiresIn: '3650d',
      });
      expect(tok.status).toBe(201);
      expect(Number.isSafeInteger(tok.body.expiresAt)).toBe(true);
      expectProblem(
        await srv.api('POST', `/v1/runners/tokens/${tok.body.id}/rotate`, { grace: 1e308 }),
        400,
        /^grace: .*out of range/,
      );
      expectProblem(
        await srv.api('POST', `/v1/runners/tokens/${tok.body.id}/rotate`, { expiresIn: 1e308 }),
        400,
        /^expiresIn: .*out of range/,
      );
      await srv.api('POST', `/v1/runners/tokens/${tok.body.id}/revoke`, {});
      const after = await written();
      expect(after.tokens).toHaveLength(tokens.body.items.length + 1);
      expect(after.pools).toEqual(before.pools);
      expect(after.sessions).toEqual(before.sessions);
    });

    it('refuses a runner registration with a NUL byte in its name or labels, registering nothing', async () => {
      const tok = await srv.api<{ id: string; token: string }>('POST', '/v1/runners/tokens', { pool: 'joined' });
      expect(tok.status).toBe(201);
      const base = { protocol: PROTOCOL_VERSION, token: tok.body.token, pool: 'joined', agentVersion: 'test' };
      const runners = async () => (await srv.api<{ items: unknown[] }>('GET', '/v1/runners?all=1')).body.items.length;
      const before = await runners();
      const byName = await register(srv, { ...base, name: 'box\u0000' });
      expect(byName.status).toBe(400);
      expect(byName.body.message).toMatch(/^registration: name contains a NUL byte/);
      const byLabel = await register(srv, { ...base, name: 'box', labels: { os: 'lin\u0000ux' } });
      expect(byLabel.status).toBe(400);
      expect(byLabel.body.message).toMatch(/^registration: labels\.os contains a NUL byte/);
      expect(await runners()).toBe(before);
      await srv.api('POST', `/v1/runners/tokens/${tok.body.id}/revoke`, {});
    });
  });
}
