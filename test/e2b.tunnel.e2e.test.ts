/**
 * @module The tunnel transport end to end on the E2B stand-in, for a server its sandboxes cannot
 * reach (behind NAT): every sandbox sits on Docker's bridge network (no route to the host's
 * loopback, where the test gateway listens) and the pool's gateway address is a closed port, so
 * only the tunnel can work. The agent listens (`transport: tunnel`), the server dials it through
 * the stand-in's model of E2B's sandbox host, and a session runs; the tunnel cut mid-task comes
 * back and the task ends with every line once, in order; a server killed and restarted dials the
 * runner again; a connection with a wrong tunnel secret is refused by the agent.
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { TUNNEL_CLOSE_REFUSED, TUNNEL_SUBPROTOCOL, tunnelProof } from '../src/protocol/tunnel.js';
import { dockerDescribe } from '../src/providers/docker/docker.test-support.js';
import { addTask, createSession, sessionIn, taskDone, taskLines } from './docker.support.js';
import { type E2bTarget, e2bPrefix, e2bTarget } from './e2b.support.js';
import { type ServerHandle, startServer, until } from './harness.js';

const PORT = 49990;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** A probe run by the task: can the sandbox reach the gateway's TCP port on loopback? */
const probe = (port: number) =>
  `/opt/marionette-node/bin/node -e "require('net').connect(${port},'127.0.0.1').on('connect',()=>{console.log('gateway reachable');process.exit(0)}).on('error',()=>console.log('gateway unreachable'))"`;

dockerDescribe('the tunnel transport on the E2B stand-in (a server behind NAT)', () => {
  const prefix = e2bPrefix();
  let target: E2bTarget;
  let srv: ServerHandle;
  let gatewayPort: number;

  beforeAll(async () => {
    target = await e2bTarget(prefix, { ports: [PORT] });
    gatewayPort = await freePort();
    const e2b = target.config(gatewayPort, {
      transport: 'tunnel',
      tunnelPort: PORT,
      // A closed port: were the agent to dial it, nothing would answer.
      gateway: 'ws://127.0.0.1:1',
      tunnelUrl: `${target.standin.tunnel!.url}/{sandboxId}/{port}`,
    });
    srv = await startServer({
      gatewayPort,
      env: { E2B_API_KEY: target.apiKey },
      config: `runners: { lease_timeout: 1m }\nproviders:\n  e2b: ${JSON.stringify(e2b)}\n`,
    });
    const r = await srv.api('POST', '/v1/pools', { name: 'nat', provider: 'e2b', mode: 'managed' });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
  }, 300_000);

  afterAll(async () => {
    await srv?.destroy();
    const rest = target ? await target.standin.leftovers().catch(() => []) : [];
    await target?.close();
    expect(rest).toEqual([]);
  }, 120_000);

  let sessionId = '';

  it('runs a session whose agent cannot reach the gateway, over the tunnel the server dials', async () => {
    const created = await createSession(srv, {
      pool: 'nat',
      prompt: `echo "gw=\${MARIONETTE_GATEWAY:-none}"; ${probe(gatewayPort)}; echo made > /workspace/made.txt`,
    });
    sessionId = created.id;
    const done = await taskDone(srv, created.tasks![0]!.id, 180_000);
    const lines = await taskLines(srv, done.id);
    expect(done.state, lines.join('\n')).toBe('succeeded');
    expect(lines).toContain('gw=none');
    expect(lines).toContain('gateway unreachable');
    expect(target.standin.tunnel!.relayed).toBeGreaterThan(0);
    const s = await sessionIn(srv, created.id, ['idle']);
    const [box] = [...target.standin.sandboxes.all.values()].filter(
      (b) => b.metadata[`${prefix}.runner`] === s.runnerId,
    );
    expect(box, 'the session ran in an isolated stand-in sandbox').toBeDefined();
  }, 300_000);

  it('a tunnel cut mid-task comes back: the task ends with every line once, in order', async () => {
    const t = await addTask(srv, sessionId, 'for i in $(seq 1 40); do echo "line $i"; sleep 0.2; done');
    await until(async () => (await taskLines(srv, t.id)).includes('line 5'), 'the task to be running', 120_000);
    const cut = target.standin.tunnel!.dropAll();
    expect(cut).toBeGreaterThan(0);
    const done = await taskDone(srv, t.id, 180_000);
    const lines = await taskLines(srv, t.id);
    expect(done.state, lines.join('\n')).toBe('succeeded');
    expect(lines).toEqual(Array.from({ length: 40 }, (_, i) => `line ${i + 1}`));
  }, 300_000);

  it('a server killed and restarted dials the runner again and the session goes on', async () => {
    await sessionIn(srv, sessionId, ['idle']);
    await srv.stop(true);
    srv = await srv.restart();
    const t = await addTask(srv, sessionId, 'cat /workspace/made.txt');
    const done = await taskDone(srv, t.id, 180_000);
    const lines = await taskLines(srv, t.id);
    expect(done.state, lines.join('\n')).toBe('succeeded');
    expect(lines).toEqual(['made']);
  }, 300_000);

  it('the listening agent refuses a connection with a wrong tunnel secret, and one without the subprotocol', async () => {
    const s = await sessionIn(srv, sessionId, ['idle']);
    const box = [...target.standin.sandboxes.all.values()].find((b) => b.metadata[`${prefix}.runner`] === s.runnerId)!;
    const port = await target.standin.sandboxes.publishedPort(box, PORT);
    expect(port).not.toBeNull();
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, TUNNEL_SUBPROTOCOL);
    const said: string[] = [];
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    ws.on('message', (d) => {
      said.push(d.toString());
      const f = JSON.parse(d.toString()) as { t: string; nonce?: string };
      if (f.t === 'challenge') ws.send(JSON.stringify({ t: 'proof', proofs: [tunnelProof('x'.repeat(64), f.nonce!)] }));
    });
    expect(await closed).toBe(TUNNEL_CLOSE_REFUSED);
    // Only the challenge was said: no `ready`, and nothing of the gateway's.
    expect(said.map((m) => (JSON.parse(m) as { t: string }).t)).toEqual(['challenge']);

    const plain = new WebSocket(`ws://127.0.0.1:${port}/`);
    const outcome = await new Promise<string>((resolve) => {
      plain.on('open', () => resolve('open'));
      plain.on('error', (e) => resolve(`error: ${e.message}`));
    });
    expect(outcome).toMatch(/^error/);
    plain.terminate();

    // The session is untouched by either.
    const t = await addTask(srv, sessionId, 'echo still');
    expect((await taskDone(srv, t.id, 120_000)).state).toBe('succeeded');
    expect(await taskLines(srv, t.id)).toEqual(['still']);

    expect((await srv.api('POST', `/v1/sessions/${sessionId}/cancel`)).status).toBe(200);
    await until(
      async () => target.standin.sandboxes.all.size === 0 && (await target.standin.leftovers()).length === 0,
      'the sandbox to be gone once the session ended',
      60_000,
    );
  }, 300_000);
});
