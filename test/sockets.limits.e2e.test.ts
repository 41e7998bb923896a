import { connect as netConnect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { PROTOCOL_VERSION } from '../src/protocol/messages.js';
import { registerOnGateway, type ServerHandle, startServer, until } from './harness.js';
import { Agents, createToken } from './pools.helpers.js';

const CAP = 20;
const CONFIG = [
  'server: { log_level: warn }',
  'limits:',
  `  api: { header_timeout: 1s, request_timeout: 2s, max_connections: ${CAP}, max_connections_per_ip: ${CAP} }`,
  '  gateway:',
  '    header_timeout: 1s',
  '    request_timeout: 2s',
  '    hello_timeout: 2s',
  `    max_connections: ${CAP}`,
  `    max_connections_per_ip: ${CAP}`,
  '    max_invalid_frames: 5',
  '    registrations_per_minute: 6',
  '    registration_burst: 3',
  'pools:',
  '  edge: { provider: pool, mode: pool }',
  '',
].join('\n');

let srv: ServerHandle;
const agents = new Agents();
beforeAll(async () => {
  srv = await startServer({ config: CONFIG });
});
afterAll(async () => {
  agents.cleanup();
  await srv?.destroy();
});

/** Latencies of GET /v1/healthz while `during` runs (one request at a time). */
async function healthLatencies(during: Promise<unknown>): Promise<{ ms: number[]; failures: number }> {
  let done = false;
  void during.finally(() => {
    done = true;
  });
  const ms: number[] = [];
  let failures = 0;
  while (!done && ms.length < 500) {
    const t = performance.now();
    const r = await srv.api('GET', '/v1/healthz').catch(() => null);
    if (r?.status === 200) ms.push(performance.now() - t);
    else failures++;
    await sleep(20);
  }
  await during;
  return { ms, failures };
}

function summary(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => (s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))]!.toFixed(1) : '-');
  return `n=${s.length} p50=${at(0.5)}ms p90=${at(0.9)}ms max=${at(1)}ms`;
}

/** Opens a TCP connection; resolves with what the server sent and how long until it closed. */
function slowClient(port: number, trickle: boolean): Promise<{ text: string; closedAfterMs: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    let text = '';
    let timer: NodeJS.Timeout | null = null;
    const s = netConnect(port, '127.0.0.1', () => {
      if (!trickle) return;
      s.write('GET /v1/healthz HTTP/1.1\r\nHost: x\r\n');
      let i = 0;
      timer = setInterval(() => s.write(`X-Slow-${i++}: ${'a'.repeat(8)}\r\n`), 200);
    });
    s.on('data', (c: Buffer) => {
      text += c.toString();
    });
    s.on('error', () => {});
    s.on('close', () => {
      if (timer) clearInterval(timer);
      resolve({ text, closedAfterMs: Date.now() - started });
    });
    // Bounded: a socket the server never closes fails the test instead of hanging it.
    setTimeout(() => s.destroy(), 20_000).unref();
  });
}

interface RegisterAnswer {
  code?: string;
  message?: string;
  runnerId: string;
  credential: string;
}

function register(
  token: string,
  name: string,
): Promise<{ status: number; retryAfter: string | null; body: RegisterAnswer }> {
  return registerOnGateway<RegisterAnswer>(srv, {
    protocol: PROTOCOL_VERSION,
    token,
    pool: 'edge',
    name,
    labels: {},
    agentVersion: 'test',
  });
}

/** A registered runner's credential (one-time token each, so the per-token rate limit is not involved). */
async function runnerCredential(name: string): Promise<{ runnerId: string; credential: string }> {
  const tok = await createToken(srv, ['--pool', 'edge', '--one-time']);
  const r = await register(tok.token, name);
  expect(r.status).toBe(200);
  return r.body;
}

function openWs(credential: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws+unix:${srv.gatewaySocket}:/v1/connect`, {
      headers: { authorization: `Bearer ${credential}` },
    });
    ws.on('open', () => resolve(ws));
    ws.on('error', reject);
  });
}

function closed(ws: WebSocket): Promise<{ code: number; reason: string; afterMs: number }> {
  const started = Date.now();
  return new Promise((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString(), afterMs: Date.now() - started })),
  );
}

describe('header and body timeouts', () => {
  it('closes API and gateway clients that trickle headers or send nothing, and the API keeps answering', async () => {
    const clients = Promise.all([
      ...Array.from({ length: 4 }, () => slowClient(srv.apiPort, true)),
      ...Array.from({ length: 4 }, () => slowClient(srv.apiPort, false)),
      ...Array.from({ length: 4 }, () => slowClient(srv.gatewayPort, true)),
    ]);
    const { ms, failures } = await healthLatencies(clients);
    const results = await clients;
    console.log(
      `[sockets] slowloris: closed after ${results.map((r) => r.closedAfterMs).join(', ')} ms; API health ${summary(ms)}, failures ${failures}`,
    );
    for (const r of results) {
      // Closed by the server (well before the test's own 20 s guard), with a 408 where it answered.
      expect(r.closedAfterMs).toBeLessThan(15_000);
      if (r.text) expect(r.text).toMatch(/^HTTP\/1\.1 408/);
    }
    expect(results.filter((r) => r.text.startsWith('HTTP/1.1 408')).length).toBeGreaterThanOrEqual(8);
    expect(failures).toBe(0);
  });

  it('closes a request whose body never finishes', async () => {
    const r = await new Promise<{ text: string; closedAfterMs: number }>((resolve) => {
      const started = Date.now();
      let text = '';
      const s = netConnect(srv.apiPort, '127.0.0.1', () => {
        s.write(
          `POST /v1/pools HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${srv.token}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"name":`,
        );
      });
      s.on('data', (c: Buffer) => {
        text += c.toString();
      });
      s.on('error', () => {});
      s.on('close', () => resolve({ text, closedAfterMs: Date.now() - started }));
      setTimeout(() => s.destroy(), 20_000).unref();
    });
    console.log(`[sockets] unfinished body: closed after ${r.closedAfterMs} ms: ${r.text.split('\r\n')[0]}`);
    expect(r.closedAfterMs).toBeLessThan(15_000);
    expect(r.text).toMatch(/^HTTP\/1\.1 (408|400)/);
  });
});

describe('hello timeout', () => {
  it('closes a runner WebSocket that never sends hello, with code 4408', async () => {
    const { credential } = await runnerCredential('silent');
    const ws = await openWs(credential);
    const c = await closed(ws);
    console.log(`[sockets] silent websocket closed after ${c.afterMs} ms: ${c.code} ${c.reason}`);
    expect(c.code).toBe(4408);
    expect(c.reason).toBe('no hello within 2s');
  });

  it('keeps a runner that says hello in time', async () => {
    const { runnerId, credential } = await runnerCredential('talker');
    const ws = await openWs(credential);
    const welcome = new Promise<Record<string, unknown>>((resolve) =>
      ws.once('message', (d) => resolve(JSON.parse(d.toString()))),
    );
    ws.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, runnerId, agentVersion: 'test', task: null }));
    expect(await welcome).toMatchObject({ type: 'welcome' });
    await sleep(3_000);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.close();
  });
});

describe('invalid frames', () => {
  it('answers each bad frame, then disconnects past the budget with code 4400', async () => {
    const { runnerId, credential } = await runnerCredential('garbler');
    const ws = await openWs(credential);
    const errors: Record<string, unknown>[] = [];
    ws.on('message', (d) => errors.push(JSON.parse(d.toString())));
    const c = closed(ws);
    ws.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, runnerId, agentVersion: 'test', task: null }));
    for (let i = 0; i < 8; i++) ws.send(`{not json ${i}`);
    const { code, reason } = await c;
    expect(code).toBe(4400);
    expect(reason).toBe('too many invalid frames (over 5 in 60s)');
    // The five within budget were each answered with an error naming the problem.
    expect(errors.filter((e) => e.type === 'error' && e.code === 'bad_frame')).toHaveLength(5);
  });
});

describe('large invalid frames', () => {
  it('cuts off a runner sending large invalid frames; the API keeps answering (latency printed)', async () => {
    const baseline = await healthLatencies(sleep(1_000));
    const { runnerId, credential } = await runnerCredential('flooder');
    const ws = await openWs(credential);
    const c = closed(ws);
    ws.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, runnerId, agentVersion: 'test', task: null }));
    // Valid JSON the protocol refuses: each costs the server a full parse. Bounded: 20 × 2 MB.
    const frame = JSON.stringify({ type: 'logs', taskId: 'x', lines: 'y'.repeat(2 * 1024 * 1024) });
    const flood = (async () => {
      for (let i = 0; i < 20 && ws.readyState === WebSocket.OPEN; i++) {
        ws.send(frame);
        await sleep(10);
      }
      return c;
    })();
    const during = await healthLatencies(flood);
    const { code, reason } = await c;
    console.log(
      `[sockets] API health before: ${summary(baseline.ms)}; during a 2 MB invalid-frame flood: ${summary(during.ms)}; closed ${code} ${reason}`,
    );
    expect(code).toBe(4400);
    expect(during.failures).toBe(0);
  });
});

/**
 * Opens `n` raw connections at once. A refused one is answered 503 at once; an admitted one hears
 * nothing until the header timeout answers it 408. Waits (bounded) until at least `expectRefused`
 * were refused, then a moment more for any further refusal.
 */
async function flood(
  port: number,
  n: number,
  expectRefused: number,
): Promise<{ refused: string[]; admitted: Socket[] }> {
  const socks = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<{ s: Socket; text: () => string }>((resolve) => {
          let text = '';
          const s = netConnect(port, '127.0.0.1', () => resolve({ s, text: () => text }));
          s.on('data', (c: Buffer) => {
            text += c.toString();
          });
          s.on('error', () => {});
        }),
    ),
  );
  const is503 = (x: { text: () => string }) => x.text().startsWith('HTTP/1.1 503');
  const deadline = Date.now() + 10_000;
  while (socks.filter(is503).length < expectRefused && Date.now() < deadline) await sleep(50);
  await sleep(300);
  return {
    refused: socks.filter(is503).map((x) => x.text()),
    admitted: socks.filter((x) => !is503(x)).map((x) => x.s),
  };
}

describe('connection caps', () => {
  for (const which of ['api', 'gateway'] as const) {
    it(`${which}: holds at most ${CAP} connections; the rest get 503 and the server recovers`, async () => {
      const port = which === 'api' ? srv.apiPort : srv.gatewayPort;
      const { refused, admitted } = await flood(port, 30, 30 - CAP);
      console.log(`[sockets] ${which} cap ${CAP}, 30 opened: ${admitted.length} admitted, ${refused.length} refused`);
      expect(admitted.length).toBeLessThanOrEqual(CAP);
      expect(refused.length).toBeGreaterThanOrEqual(30 - CAP);
      for (const text of refused) {
        expect(text).toMatch(/^HTTP\/1\.1 503/);
        expect(text).toContain('application/problem+json');
        expect(text).toMatch(/limit 20/);
      }
      for (const s of admitted) s.destroy();
      // Once they are gone, new connections are admitted again.
      await until(async () => {
        const r = await srv.api('GET', '/v1/healthz').catch(() => null);
        return r?.status === 200;
      }, 'the API to answer again');
    });
  }
});

describe('registration rate limit', () => {
  it('allows the burst, then answers 429 with Retry-After; the agent prints it and retries', async () => {
    const tok = await createToken(srv, ['--pool', 'edge']);
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await register(tok.token, `burst-${i}`));
    expect(answers.slice(0, 3).map((a) => a.status)).toEqual([200, 200, 200]);
    const limited = answers[3]!;
    expect(limited.status).toBe(429);
    expect(limited.retryAfter).toMatch(/^\d+$/);
    expect(limited.body).toMatchObject({ code: 'rate_limited' });
    expect(limited.body.message).toMatch(
      /^too many registrations with this token \(limit 6\/min, burst 3\); retry in \d+s$/,
    );

    const a = agents.start(srv, ['--token', tok.token, '--pool', 'edge', '--name', 'patient']);
    await until(async () => /registered as runner/.test(a.output()), 'the rate-limited agent to register', 30_000);
    expect(a.output()).toMatch(
      /registration rate limited \(429\): too many registrations with this token \(limit 6\/min, burst 3\); retry in \d+s; retrying in \d+s/,
    );
  });
});
