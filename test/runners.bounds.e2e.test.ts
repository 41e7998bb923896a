/**
 * Runners cannot pose as others: a runner with pool A's token that declares pool B's labels is
 * refused by name (and a pool relabelled afterwards still bounds the runners it has: pool B's
 * sessions, their env included, never reach a pool-A runner); a registration outside the pool's
 * selector or past its max_runners is refused with the reason and the agent exits non-zero at
 * once; a replayed credential is refused (close 4010, recorded) while the real runner keeps its
 * task; credentials rotate on every hello, and a runner that crashes between receiving the new
 * credential and saving it (or after saving it but before confirming) is never locked out.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { PROTOCOL_VERSION } from '../src/protocol/messages.js';
import { registerOnGateway, type ServerHandle, type SessionView, startServer, until } from './harness.js';
import { Agents, createToken, idleRunners } from './pools.helpers.js';

const CONFIG = `
runners:
  heartbeat_interval: 200ms
  lease_timeout: 3s
limits:
  gateway:
    registrations_per_minute: 60
    registration_burst: 10
`;

let srv: ServerHandle;
const agents = new Agents();
const dirs: string[] = [];
function stateDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'marionette-state-'));
  dirs.push(d);
  return join(d, 'state');
}

beforeAll(async () => {
  srv = await startServer({ config: CONFIG });
  for (const body of [
    { name: 'team-a', mode: 'pool', provider: 'pool', maxRunners: 2 },
    { name: 'team-b', mode: 'pool', provider: 'pool', labels: { team: 'b' } },
    { name: 'lab', mode: 'pool', provider: 'pool', selector: 'os=linux,!team' },
    { name: 'flood', mode: 'pool', provider: 'pool' },
    { name: 'capped', mode: 'pool', provider: 'pool', maxRunners: 1 },
    { name: 'vault', mode: 'pool', provider: 'pool' },
  ]) {
    const r = await srv.api('POST', '/v1/pools', body);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
  }
});
afterAll(async () => {
  agents.cleanup();
  await srv?.destroy();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function register(token: string, labels: Record<string, string>, name = 'probe') {
  return registerOnGateway<{ code?: string; message?: string; runnerId?: string; credential?: string }>(srv, {
    protocol: PROTOCOL_VERSION,
    token,
    name,
    labels,
    agentVersion: 'test',
  });
}

async function session(id: string): Promise<SessionView> {
  return (await srv.api<SessionView>('GET', `/v1/sessions/${id}`)).body;
}

describe('labels, selector and max_runners bound what a runner may declare', () => {
  it('refuses a pool-B label on a pool-A token by name; the agent prints it and exits non-zero', async () => {
    const r = await srv.api('PATCH', '/v1/pools/team-a', { labels: { team: 'a' } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const { token } = await createToken(srv, ['--pool', 'team-a']);
    const wire = await register(token, { team: 'b' });
    expect(wire.status).toBe(403);
    expect(wire.body.code).toBe('labels_rejected');
    expect(wire.body.message).toContain('pool team-a sets team=a; this runner declared team=b');
    const a = agents.start(srv, ['--token', token, '--pool', 'team-a', '--labels', 'team=b']);
    expect(await a.exited).not.toBe(0);
    expect(a.output()).toContain("a runner cannot override its pool's labels");
    // Recorded: the refusal is in the server log with its reason.
    const log = readFileSync(join(srv.home, 'server.log'), 'utf8');
    expect(log).toContain('runner refused');
    expect(log).toContain('labels_rejected');
    // Declaring the pool's own value is fine (and counts toward max_runners below).
    const same = await register(token, { team: 'a' });
    expect(same.status).toBe(200);
  });

  it("a pool-A runner declaring pool B's labels gets no pool-B work, and pool B's env never reaches it", async () => {
    // Pool A sets no `team` at first, so the runner may add team=b; then the pool is relabelled.
    await srv.api('PATCH', '/v1/pools/team-a', { labels: {} });
    const { token } = await createToken(srv, ['--pool', 'team-a']);
    const spy = agents.start(srv, ['--token', token, '--pool', 'team-a', '--labels', 'team=b', '--name', 'spy']);
    await until(
      async () =>
        (await idleRunners(srv, 'team-a', 1).catch(() => null))?.find((r) => r.name === 'spy') ? true : null,
      'the spy runner idle',
    );
    expect((await srv.api('PATCH', '/v1/pools/team-a', { labels: { team: 'a' } })).status).toBe(200);
    const secret = `planted-${Math.random().toString(36).slice(2)}`;
    const created = await srv.api<SessionView>('POST', '/v1/sessions', {
      agent: 'shell',
      selector: 'team=b',
      prompt: 'echo "secret=$B_SECRET"',
      env: { B_SECRET: secret },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    // It waits for a pool-B runner: the spy (idle, labelled team=b by itself) is not one.
    await new Promise((r) => setTimeout(r, 1500));
    const waiting = await session(created.body.id);
    expect(waiting.runnerId).toBeNull();
    expect(waiting.tasks.every((t) => t.runnerId === null)).toBe(true);
    // A real pool-B runner joins and takes it; the spy never saw the env.
    const { token: tokenB } = await createToken(srv, ['--pool', 'team-b']);
    const b = agents.start(srv, ['--token', tokenB, '--pool', 'team-b', '--name', 'real-b']);
    const done = await until(async () => {
      const s = await session(created.body.id);
      return s.tasks[0]?.state === 'succeeded' ? s : null;
    }, 'the pool-B task to succeed');
    const logs = await srv.mctl(['tasks', 'logs', done.tasks[0]!.id]);
    expect(logs.stdout).toContain(`secret=${secret}`);
    expect(spy.output()).not.toContain(secret);
    expect(b.proc.exitCode).toBeNull();
  });

  it('refuses a runner outside the pool selector (a forbidden label included) with the reason', async () => {
    const { token } = await createToken(srv, ['--pool', 'lab']);
    const darwin = await register(token, { os: 'darwin' });
    expect(darwin.status).toBe(403);
    expect(darwin.body).toMatchObject({ code: 'labels_rejected' });
    expect(darwin.body.message).toContain('pool lab requires runners matching');
    const forbidden = await register(token, { os: 'linux', team: 'x' });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.message).toContain('team');
    const a = agents.start(srv, ['--token', token, '--labels', 'os=darwin']);
    expect(await a.exited).not.toBe(0);
    expect(a.output()).toContain('registration refused: pool lab requires runners matching');
    expect((await register(token, { os: 'linux' })).status).toBe(200);
  });

  it('refuses a registration past max_runners with the reason; the agent exits at once (one attempt)', async () => {
    const { token } = await createToken(srv, ['--pool', 'capped']);
    agents.start(srv, ['--token', token, '--name', 'first']);
    await idleRunners(srv, 'capped', 1);
    // Refusals recorded in server.log (written in batches: counted once both are there).
    const count = () => readFileSync(join(srv.home, 'server.log'), 'utf8').split('"pool_full"').length;
    const before = count();
    const full = await register(token, {});
    expect(full.status).toBe(409);
    expect(full.body.code).toBe('pool_full');
    expect(full.body.message).toContain('max_runners 1');
    const a = agents.start(srv, ['--token', token, '--name', 'second']);
    expect(await a.exited).not.toBe(0);
    expect(a.output()).toContain('registration refused: pool capped is full');
    expect(a.output().split('registration refused').length - 1).toBe(1);
    await until(async () => count() - before >= 2, 'both refusals in server.log');
    await new Promise((r) => setTimeout(r, 1000));
    // The probe's and the agent's: one attempt each, no retries.
    expect(count() - before).toBe(2);
  });
});

/** A runner at the wire level: connect with a credential, say hello, read frames. */
async function connect(
  credential: string,
  runnerId: string,
): Promise<{ ws: WebSocket; welcome: Record<string, unknown> } | { status: number }> {
  const ws = new WebSocket(`ws+unix:${srv.gatewaySocket}:/v1/connect`, {
    headers: { authorization: `Bearer ${credential}` },
  });
  const opened = await new Promise<number | null>((resolve) => {
    ws.once('open', () => resolve(null));
    ws.once('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0));
    ws.once('error', () => resolve(-1));
  });
  if (opened !== null) return { status: opened };
  const frames: Record<string, unknown>[] = [];
  ws.on('message', (d) => frames.push(JSON.parse(d.toString()) as Record<string, unknown>));
  ws.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, runnerId, agentVersion: 'test', task: null }));
  const welcome = await until(async () => frames.find((f) => f.type === 'welcome'), 'welcome', 10_000);
  return { ws, welcome };
}

/** The HTTP status a connection attempt gets (101 when it was accepted; it is closed again at once). */
async function statusOf(credential: string): Promise<number> {
  const ws = new WebSocket(`ws+unix:${srv.gatewaySocket}:/v1/connect`, {
    headers: { authorization: `Bearer ${credential}` },
  });
  const status = await new Promise<number>((resolve) => {
    ws.once('open', () => resolve(101));
    ws.once('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0));
    ws.once('error', () => resolve(-1));
  });
  if (status === 101) ws.terminate();
  return status;
}

async function closed(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return;
  await new Promise((r) => {
    ws.once('close', r);
    ws.close(1000, 'test');
  });
}

describe('credentials: one live connection, rotation on every hello', () => {
  it('rotates at hello; a crash before saving keeps the old one, a crash after saving is promoted', async () => {
    const { token } = await createToken(srv, ['--pool', 'flood']);
    const reg = await register(token, {}, 'rotor');
    expect(reg.status).toBe(200);
    const id = reg.body.runnerId!;
    const c1 = reg.body.credential!;

    // Hello with C1: the welcome carries C2. Crash before saving it: never confirmed.
    const first = await connect(c1, id);
    if (!('ws' in first)) throw new Error(`refused ${first.status}`);
    const c2 = first.welcome.credential as string;
    expect(c2).toMatch(/^mrc_/);
    expect(c2).not.toBe(c1);
    await closed(first.ws);

    // The runner still holds C1 (it never saved C2): C1 still works, and the welcome carries C3.
    const second = await connect(c1, id);
    if (!('ws' in second)) throw new Error(`C1 refused after a crash before saving: ${second.status}`);
    const c3 = second.welcome.credential as string;
    expect(c3).not.toBe(c2);
    await closed(second.ws);
    // C2 was superseded by C3 before anyone saved it.
    expect(await statusOf(c2)).toBe(401);

    // Crash after saving C3 but before confirming: presenting C3 works and retires C1.
    const third = await connect(c3, id);
    if (!('ws' in third)) throw new Error(`C3 refused after a crash between saving and confirming: ${third.status}`);
    const c4 = third.welcome.credential as string;
    expect(await statusOf(c1)).toBe(401);
    // Normal path: save, confirm; C3 stops working, C4 works.
    third.ws.send(JSON.stringify({ type: 'credential.saved' }));
    await closed(third.ws);
    expect(await statusOf(c3)).toBe(401);
    const fourth = await connect(c4, id);
    expect('ws' in fourth).toBe(true);
    if ('ws' in fourth) await closed(fourth.ws);
  });

  it('a real agent saves the rotated credential; its old one is then refused', async () => {
    const { token } = await createToken(srv, ['--pool', 'flood']);
    // Register here, so the registration credential is known for certain (an agent that registered
    // itself may have rotated it before a test could read it), and hand it to a real agent.
    const reg = await register(token, {}, 'saver');
    expect(reg.status).toBe(200);
    const held = { runnerId: reg.body.runnerId!, credential: reg.body.credential! };
    const dir = stateDir();
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = join(dir, 'credential.json');
    writeFileSync(file, JSON.stringify(held), { mode: 0o600 });
    const a = agents.start(srv, ['--token', token, '--pool', 'flood', '--state-dir', dir, '--name', 'saver']);
    const read = () => {
      try {
        return JSON.parse(readFileSync(file, 'utf8')) as { runnerId: string; credential: string };
      } catch {
        return null;
      }
    };
    // The welcome's credential replaces the registration one on disk; the runner stays the same.
    const saved = await until(async () => {
      const now = read();
      return now && now.credential !== held.credential ? now : null;
    }, 'the rotated credential saved').catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\nagent output:\n${a.output()}`);
    });
    expect(saved.runnerId).toBe(held.runnerId);
    await until(async () => (await statusOf(held.credential)) === 401, 'the registration credential retired');
    expect(a.proc.exitCode).toBeNull();
  });

  for (const point of ['credential:received', 'credential:saved']) {
    it(`a real agent killed at ${point} restarts and rejoins as the same runner`, async () => {
      const { token } = await createToken(srv, ['--pool', 'flood']);
      const dir = stateDir();
      const name = `crash-${point.split(':')[1]}`;
      const args = ['--token', token, '--pool', 'flood', '--state-dir', dir, '--name', name];
      const file = join(dir, 'credential.json');
      const first = agents.start(srv, args, { MARIONETTE_AGENT_FAULT: point });
      await first.exited;
      expect(first.proc.signalCode).toBe('SIGKILL');
      const held = JSON.parse(readFileSync(file, 'utf8')) as { runnerId: string; credential: string };
      // Killed before saving: the file holds the registration credential; after: the rotated one.
      const again = agents.start(srv, args);
      await until(async () => {
        const now = JSON.parse(readFileSync(file, 'utf8')) as { runnerId: string; credential: string };
        return now.credential !== held.credential ? now : null;
      }, `the restarted agent to rotate its credential:\n${again.output()}`);
      // The same runner (not a new registration) is back and idle.
      await until(async () => {
        const r = await srv.api<{ id: string; state: string }>('GET', `/v1/runners/${held.runnerId}`);
        return r.status === 200 && r.body.state === 'idle';
      }, `runner ${held.runnerId} idle again`);
      expect(again.output()).not.toContain('registering again');
      expect(again.proc.exitCode).toBeNull();
      again.kill();
    });
  }

  it('refuses a replayed credential (4010, recorded) while the real runner keeps its task', async () => {
    const { token } = await createToken(srv, ['--pool', 'vault']);
    const dir = stateDir();
    const real = agents.start(srv, ['--token', token, '--pool', 'vault', '--state-dir', dir, '--name', 'real']);
    await until(async () => (real.output().includes('registered as runner') ? true : null), 'registration');
    const created = await srv.api<SessionView>('POST', '/v1/sessions', {
      agent: 'shell',
      pool: 'vault',
      prompt: 'for i in 1 2 3 4 5 6; do echo tick $i; sleep 0.5; done',
    });
    expect(created.status).toBe(201);
    const running = await until(async () => {
      const s = await session(created.body.id);
      return s.tasks[0]?.state === 'running' ? s : null;
    }, 'the task running');
    // A thief copies the credential file and presents it while the real runner is connected.
    const stolen = JSON.parse(readFileSync(join(dir, 'credential.json'), 'utf8')) as {
      runnerId: string;
      credential: string;
    };
    expect(stolen.runnerId).toBe(running.runnerId);
    const ws = new WebSocket(`ws+unix:${srv.gatewaySocket}:/v1/connect`, {
      headers: { authorization: `Bearer ${stolen.credential}` },
    });
    const close = await new Promise<{ code: number; reason: string }>((resolve) =>
      ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    expect(close).toEqual({ code: 4010, reason: 'credential in use by another live connection' });
    const done = await until(
      async () => {
        const s = await session(created.body.id);
        return s.tasks[0]?.state === 'succeeded' ? s : null;
      },
      'the real runner to finish its task',
      30_000,
    );
    expect(done.tasks[0]!.runnerId).toBe(running.runnerId);
    expect(done.tasks[0]!.attempt).toBe(1);
    expect(real.output()).not.toContain('disconnected');
    const log = readFileSync(join(srv.home, 'server.log'), 'utf8');
    expect(log).toContain('credential_in_use');
    expect(log).toContain(`runner ${running.runnerId}: a second connection presented its credential`);
  });
});

describe('registration rate limit per token, under load', () => {
  it('300 registrations at once with one token: the burst passes, the rest get 429 with Retry-After', async () => {
    const { token } = await createToken(srv, ['--pool', 'flood']);
    const t0 = Date.now();
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => register(token, {}, `flood-${i}`)));
    const ok = results.filter((r) => r.status === 200).length;
    const limited = results.filter((r) => r.status === 429);
    console.log(
      `[runners] 300 registrations, one token: ${ok} accepted, ${limited.length} rate limited, in ${Date.now() - t0} ms`,
    );
    // Burst 10, 60/min: a few more may refill while the 300 are answered on a slow machine.
    expect(ok).toBeGreaterThanOrEqual(10);
    expect(ok).toBeLessThanOrEqual(15);
    expect(ok + limited.length).toBe(300);
    for (const r of limited) {
      expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(r.body.code).toBe('rate_limited');
    }
  });
});
