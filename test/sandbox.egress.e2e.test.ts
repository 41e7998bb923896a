/**
 * The egress policy of pools with a nested sandbox, end to end through the server and a real
 * local runner: `allow` runs the task behind the runner's egress proxy (the sandbox's own network
 * namespace has only loopback and the proxy's socket), so an allowed host answers, a denied one
 * gets 403 and is reported as an `egress_denied` session event with counts, and a direct
 * connection has no way out; a session narrows its pool's list (to fewer hosts, or to none) but
 * cannot widen it (`egress_policy` verdict); `sandbox.network: host` without `network.egress` is
 * open. A local pool without a nested sandbox still refuses a policy it cannot enforce. Bad
 * policies are refused naming the key.
 *
 * Network: HTTP servers of this test on the host's loopback (127.0.0.2-4); nothing else.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { detectRuntimes } from '../src/agent/sandbox/detect.js';
import { PROTOCOL_VERSION } from '../src/protocol/messages.js';
import { registerOnGateway, type ServerHandle, type SessionView, startServer, until } from './harness.js';

const required = process.env.MARIONETTE_REQUIRE_SANDBOX === '1';
const found = detectRuntimes(process.env.PATH ?? '').found;

/** Host loopback servers: the destinations tasks try. */
const HOSTS = ['127.0.0.2', '127.0.0.3', '127.0.0.4'] as const;

async function finished(srv: ServerHandle, id: string): Promise<SessionView> {
  return until(
    async () => {
      const x = (await srv.api<SessionView>('GET', `/v1/sessions/${id}`)).body;
      const st = x.tasks[0]?.state;
      return st && !['queued', 'assigned', 'running'].includes(st) ? x : null;
    },
    'task ended',
    120_000,
  );
}

async function lines(srv: ServerHandle, taskId: string, stream: string): Promise<string[]> {
  const r = await srv.api<{ items: { stream: string; line: string }[] }>('GET', `/v1/tasks/${taskId}/logs`);
  return r.body.items.filter((l) => l.stream === stream).map((l) => l.line);
}

describe.skipIf(!found.has('bubblewrap') && !required)('egress policy through nested sandboxes', () => {
  let srv: ServerHandle;
  const servers: http.Server[] = [];
  const port: Record<string, number> = {};

  /** A shell script that tries each host (through the proxy when one is set) and prints `host:code`. */
  function probe(hosts: readonly string[]): string {
    const tries = hosts.map(
      (h) => `echo "${h}:$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 http://${h}:${port[h]}/)"`,
    );
    // And straight out, around the proxy: with a namespace of its own there is no route.
    const direct = `curl -s -o /dev/null --noproxy '*' --max-time 5 http://${hosts[0]}:${port[hosts[0]!]}/; echo "direct-exit:$?"`;
    return [...tries, direct].join('; ');
  }

  async function run(body: Record<string, unknown>): Promise<{ s: SessionView; out: string[]; system: string[] }> {
    const r = await srv.api<{ id: string }>('POST', '/v1/sessions', { agent: 'shell', ...body });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const s = await finished(srv, r.body.id);
    const t = s.tasks[0]!;
    return { s, out: await lines(srv, t.id, 'stdout'), system: await lines(srv, t.id, 'system') };
  }

  async function pool(name: string, body: Record<string, unknown>): Promise<void> {
    const r = await srv.api('POST', '/v1/pools', { name, provider: 'local', ...body });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
  }

  beforeAll(async () => {
    for (const h of HOSTS) {
      const s = http.createServer((_q, res) => res.end(`hello from ${h}`));
      await new Promise<void>((r) => s.listen(0, h, r));
      servers.push(s);
      port[h] = (s.address() as AddressInfo).port;
    }
    srv = await startServer();
    await pool('allow', {
      sandboxMode: 'runner-creates-sandbox',
      sandboxConfig: { sandbox: { runtime: 'bubblewrap' } },
      network: { egress: { allow: ['127.0.0.2/32', '127.0.0.3'] } },
    });
    await pool('hostnet', {
      sandboxMode: 'runner-creates-sandbox',
      sandboxConfig: { sandbox: { runtime: 'bubblewrap', network: 'host' } },
    });
  }, 60_000);
  afterAll(async () => {
    await srv?.destroy();
    for (const s of servers) s.close();
  });

  it('allow: allowed hosts answer through the proxy, the rest get 403 and are reported, nothing goes around it', async () => {
    const { s, out, system } = await run({ pool: 'allow', prompt: probe(HOSTS) });
    expect(s.tasks[0]!.state).toBe('succeeded');
    expect(out).toEqual(['127.0.0.2:200', '127.0.0.3:200', '127.0.0.4:403', 'direct-exit:7']);
    expect(system.some((l) => /bubblewrap sandbox \(network: only through the egress proxy: allow \[/.test(l))).toBe(
      true,
    );
    expect(system).toContain('egress proxy: 2 connection(s) allowed, 1 denied (allow [127.0.0.2/32, 127.0.0.3/32])');
    const denied = await until(
      async () => {
        const r = await srv.api<{ items: { type: string; data: Record<string, unknown> }[] }>(
          'GET',
          `/v1/sessions/${s.id}/events`,
        );
        const e = r.body.items.filter((x) => x.type === 'egress_denied');
        return e.length > 0 ? e : null;
      },
      'egress_denied event',
      30_000,
    );
    expect(denied).toHaveLength(1);
    expect(denied[0]!.data).toMatchObject({
      host: '127.0.0.4',
      port: port['127.0.0.4'],
      method: 'GET',
      sessionDenied: 1,
      hostDenied: 1,
    });

    // Another runner reporting denials for this task (not its own) is not believed; a bad report is refused.
    expect((await srv.api('POST', '/v1/pools', { name: 'probe', mode: 'pool', provider: 'pool' })).status).toBe(201);
    const tok = await srv.api<{ token: string }>('POST', '/v1/runners/tokens', { pool: 'probe', oneTime: true });
    const reg = await registerOnGateway<{ runnerId: string; credential: string }>(srv, {
      protocol: PROTOCOL_VERSION,
      token: tok.body.token,
      name: 'forger',
      labels: {},
      agentVersion: 'test',
    });
    expect(reg.status).toBe(200);
    const ws = new WebSocket(`ws+unix:${srv.gatewaySocket}:/v1/connect`, {
      headers: { authorization: `Bearer ${reg.body.credential}` },
    });
    const frames: Record<string, unknown>[] = [];
    ws.on('message', (d) => frames.push(JSON.parse(d.toString()) as Record<string, unknown>));
    await new Promise((r) => ws.once('open', r));
    ws.send(
      JSON.stringify({
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        runnerId: reg.body.runnerId,
        agentVersion: 't',
        task: null,
      }),
    );
    await until(async () => frames.find((f) => f.type === 'welcome') ?? null, 'welcome', 10_000);
    const forged = { host: '127.0.0.4', port: 1, method: 'GET', at: Date.now(), count: 1000 };
    ws.send(JSON.stringify({ type: 'egress.denied', taskId: s.tasks[0]!.id, denials: [forged] }));
    ws.send(JSON.stringify({ type: 'egress.denied', taskId: s.tasks[0]!.id, denials: [{ ...forged, count: 0 }] }));
    const bad = await until(async () => frames.find((f) => f.type === 'error') ?? null, 'bad frame refused', 10_000);
    expect(bad).toMatchObject({ code: 'bad_frame' });
    expect(String(bad.message)).toMatch(/^denials\.0\.count/);
    await until(
      async () =>
        readFileSync(join(srv.home, 'server.log'), 'utf8').includes(
          'egress denials reported for a task that is not this runner',
        ) || null,
      'the forged report dropped and logged',
      15_000,
    );
    ws.close();
    const after = await srv.api<{ items: { type: string }[] }>('GET', `/v1/sessions/${s.id}/events`);
    expect(after.body.items.filter((x) => x.type === 'egress_denied')).toHaveLength(1);
  }, 180_000);

  it('a session narrows the pool list (fewer hosts, or none) and cannot widen it', async () => {
    const narrow = await run({ pool: 'allow', prompt: probe(HOSTS), network: { egress: { allow: ['127.0.0.2'] } } });
    expect(narrow.out).toEqual(['127.0.0.2:200', '127.0.0.3:403', '127.0.0.4:403', 'direct-exit:7']);
    const none = await run({ pool: 'allow', prompt: probe(HOSTS), network: { egress: 'none' } });
    // No proxy at all: every attempt is a connection refused in an empty namespace (code 000).
    expect(none.out).toEqual(['127.0.0.2:000', '127.0.0.3:000', '127.0.0.4:000', 'direct-exit:7']);
    expect(none.system.some((l) => l.includes('(network: no network)'))).toBe(true);
    for (const egress of ['open', { allow: ['127.0.0.4'] }]) {
      const wide = await srv.api('POST', '/v1/sessions', {
        agent: 'shell',
        prompt: 'true',
        pool: 'allow',
        waitForCapacity: false,
        network: { egress },
      });
      expect(wide.status, JSON.stringify(egress)).toBe(422);
      expect(JSON.stringify(wide.body)).toMatch(
        /egress_policy.*a session may narrow its pool's egress, never widen it/,
      );
    }
  }, 240_000);

  it('sandbox.network host without network.egress is open; a session narrows it to an allow list', async () => {
    const open = await run({ pool: 'hostnet', prompt: probe(['127.0.0.2']) });
    expect(open.out).toEqual(['127.0.0.2:200', 'direct-exit:0']);
    const narrowed = await run({
      pool: 'hostnet',
      prompt: probe(['127.0.0.3', '127.0.0.4']),
      network: { egress: { allow: ['127.0.0.3'] } },
    });
    expect(narrowed.out).toEqual(['127.0.0.3:200', '127.0.0.4:403', 'direct-exit:7']);
  }, 180_000);

  it('a local pool without a nested sandbox refuses what it cannot enforce; bad policies name the key', async () => {
    const plain = await srv.api('POST', '/v1/pools', {
      name: 'plain',
      provider: 'local',
      network: { egress: { allow: ['127.0.0.2'] } },
    });
    expect(plain.status).toBe(400);
    expect(JSON.stringify(plain.body)).toMatch(/provider local cannot enforce egress allow.*runner-creates-sandbox/);
    // The built-in local pool (no nested sandbox in tests): a session asking for none gets the verdict.
    const s = await srv.api('POST', '/v1/sessions', {
      agent: 'shell',
      prompt: 'true',
      pool: 'local',
      waitForCapacity: false,
      network: { egress: 'none' },
    });
    expect(s.status).toBe(422);
    expect(JSON.stringify(s.body)).toMatch(/egress_policy.*provider local cannot enforce egress none/);
    const bad: [unknown, RegExp][] = [
      [{ allow: ['http://127.0.0.2/'] }, /network\.egress\.allow\[0\]/],
      [{ allow: '127.0.0.2' }, /network\.egress\.allow: expected a list/],
      ['closed', /network\.egress: expected none, open, or \{ allow/],
    ];
    for (const [egress, msg] of bad) {
      const r = await srv.api('POST', '/v1/pools', {
        name: 'badegress',
        provider: 'local',
        sandboxMode: 'runner-creates-sandbox',
        network: { egress },
      });
      expect(r.status, JSON.stringify(egress)).toBe(400);
      expect((r.body as { detail: string }).detail).toMatch(msg);
      const sr = await srv.api('POST', '/v1/sessions', {
        agent: 'shell',
        prompt: 'true',
        pool: 'allow',
        network: { egress },
      });
      expect(sr.status, JSON.stringify(egress)).toBe(400);
    }
  }, 60_000);
});

describe.skipIf(!found.has('gvisor') && !required)('egress allow list through a gVisor sandbox', () => {
  let srv: ServerHandle;
  const servers: http.Server[] = [];
  const port: Record<string, number> = {};
  beforeAll(async () => {
    for (const h of ['127.0.0.2', '127.0.0.3']) {
      const s = http.createServer((_q, res) => res.end(`hello from ${h}`));
      await new Promise<void>((r) => s.listen(0, h, r));
      servers.push(s);
      port[h] = (s.address() as AddressInfo).port;
    }
    srv = await startServer();
    const r = await srv.api('POST', '/v1/pools', {
      name: 'gv',
      provider: 'local',
      sandboxMode: 'runner-creates-sandbox',
      sandboxConfig: { sandbox: { runtime: 'gvisor' } },
      network: { egress: { allow: ['127.0.0.2'] } },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
  }, 60_000);
  afterAll(async () => {
    await srv?.destroy();
    for (const s of servers) s.close();
  });

  it('reaches the allowed host through the proxy (runsc --host-uds=open), is refused the other', async () => {
    const prompt = ['127.0.0.2', '127.0.0.3']
      .map((h) => `echo "${h}:$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 http://${h}:${port[h]}/)"`)
      .join('; ');
    const c = await srv.api<{ id: string }>('POST', '/v1/sessions', { agent: 'shell', pool: 'gv', prompt });
    expect(c.status, JSON.stringify(c.body)).toBe(201);
    const s = await finished(srv, c.body.id);
    const out = await lines(srv, s.tasks[0]!.id, 'stdout');
    const system = await lines(srv, s.tasks[0]!.id, 'system');
    expect(out, system.join('\n')).toEqual(['127.0.0.2:200', '127.0.0.3:403']);
    expect(system.some((l) => l.includes('running in a gvisor sandbox'))).toBe(true);
  }, 180_000);
});
