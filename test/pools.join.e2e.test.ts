/**
 * Pool runners joining by hand: two real agents with different labels join a pool with a token,
 * sessions with selectors land on the right one, killing one mid-task re-queues the task onto the
 * other where it completes, drain finishes and leaves, and a revoked token is refused by name.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, type ServerHandle, startServer, type TaskView as Task, until } from './harness.js';
import { type AgentProc, Agents, createToken, idleRunners, poolRunners } from './pools.helpers.js';

interface SessionView {
  id: string;
  state: string;
  runnerId: string | null;
  tasks: Task[];
}

const CONFIG = `
runners:
  heartbeat_interval: 200ms
  lease_timeout: 1500ms
  max_retries: 1
providers:
  pool:
    pools:
      lab:
        min_runners: 2
        max_runners: 10
        selector:
          os: linux
`;

let srv: ServerHandle;
const agents = new Agents();
let token: string;
let big: AgentProc;
let small: AgentProc;
let bigId: string;
let smallId: string;

beforeAll(async () => {
  srv = await startServer({ config: CONFIG });
});
afterAll(async () => {
  agents.cleanup();
  await srv?.destroy();
});

async function session(id: string): Promise<SessionView> {
  const r = await srv.api<SessionView>('GET', `/v1/sessions/${id}`);
  expect(r.status).toBe(200);
  return r.body;
}

async function create(body: Record<string, unknown>): Promise<SessionView> {
  const r = await srv.api<SessionView>('POST', '/v1/sessions', { agent: 'shell', pool: 'lab', ...body });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
}

describe('pool from marionette.yaml (providers.pool.pools)', () => {
  it('exists with its comparison-free map selector and warns while it has fewer than min_runners', async () => {
    const r = await srv.mctl(['pools', 'show', 'lab']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/selector: os=linux/);
    expect(r.stdout).toMatch(/WARNING: 0 live runner\(s\), fewer than min_runners 2/);
  });
});

describe('two agents with different labels join with one token', () => {
  it('registers both with their labels', async () => {
    token = (await createToken(srv, ['--pool', 'lab'])).token;
    big = agents.start(srv, ['--token', token, '--pool', 'lab', '--name', 'big', '--labels', 'os=linux,vram=24GB']);
    small = agents.start(srv, ['--token', token, '--pool', 'lab', '--name', 'small', '--labels', 'os=linux,vram=8GB']);
    const rs = await idleRunners(srv, 'lab', 2);
    bigId = rs.find((r) => r.name === 'big')!.id;
    smallId = rs.find((r) => r.name === 'small')!.id;
    expect(rs.find((r) => r.name === 'big')!.labels).toEqual({ os: 'linux', vram: '24GB' });
    const show = await srv.mctl(['pools', 'show', 'lab']);
    expect(show.stdout).not.toMatch(/WARNING/);
  });

  it('refuses an agent whose labels do not satisfy the pool selector, saying why', async () => {
    const bad = agents.start(srv, ['--token', token, '--pool', 'lab', '--labels', 'os=darwin']);
    expect(await bad.exited).toBe(2);
    expect(bad.output()).toMatch(/requires runners matching "os=linux"/);
  });

  it('routes sessions by comparison selectors to the runner that satisfies them', async () => {
    const a = await create({ prompt: 'echo on-big', selector: 'vram>=16GB' });
    const b = await create({ prompt: 'echo on-small', selector: 'vram<16GB' });
    const doneA = await until(async () => {
      const s = await session(a.id);
      return s.tasks[0]?.state === 'succeeded' ? s : null;
    }, 'session a done');
    const doneB = await until(async () => {
      const s = await session(b.id);
      return s.tasks[0]?.state === 'succeeded' ? s : null;
    }, 'session b done');
    expect(doneA.tasks[0]!.runnerId).toBe(bigId);
    expect(doneB.tasks[0]!.runnerId).toBe(smallId);
    // Per-session runners: release them for the next test.
    for (const s of [a, b]) expect((await srv.api('POST', `/v1/sessions/${s.id}/cancel`)).status).toBe(200);
    await idleRunners(srv, 'lab', 2);
    expect((await poolRunners(srv, 'lab')).every((r) => r.sessionId === null)).toBe(true);
  });

  it('a session whose selector no runner satisfies waits and says so', async () => {
    const s = await create({ prompt: 'echo never', selector: 'vram>=64GB' });
    const explained = await until(async () => {
      const r = await srv.mctl(['sessions', 'explain', s.id]);
      return /no idle matching runner|selector/.test(r.stdout) ? r : null;
    }, 'explanation');
    expect(explained.code).toBe(0);
    expect((await session(s.id)).state).toBe('scheduling');
    await srv.api('POST', `/v1/sessions/${s.id}/cancel`);
  });

  it('re-queues a task whose runner is killed mid-task onto the other runner, where it completes', async () => {
    const s = await create({ prompt: 'echo started; sleep 1; echo finished', selector: 'os=linux' });
    const first = await until(async () => {
      const v = await session(s.id);
      return v.tasks[0]?.state === 'running' ? v.tasks[0] : null;
    }, 'first attempt running');
    const victim = first.runnerId === bigId ? big : small;
    const survivor = first.runnerId === bigId ? smallId : bigId;
    victim.kill('SIGKILL');
    const done = await until(
      async () => {
        const v = await session(s.id);
        return v.tasks.some((t) => t.state === 'succeeded') ? v : null;
      },
      'retry succeeded',
      30_000,
    );
    expect(done.tasks).toHaveLength(2);
    const [lost, retry] = done.tasks as [Task, Task];
    expect(lost.state).toBe('lost');
    expect(lost.error).toMatch(/lease expired/);
    expect(retry.retryOf).toBe(lost.id);
    expect(retry.attempt).toBe(2);
    expect(retry.runnerId).toBe(survivor);
    const logs = await srv.api<{ items: { line: string }[] }>('GET', `/v1/tasks/${retry.id}/logs`);
    expect(logs.body.items.map((l) => l.line)).toEqual(['started', 'finished']);
    const dead = (await poolRunners(srv, 'lab', true)).find((r) => r.id === first.runnerId)!;
    expect(dead.state).toBe('offline');
    await srv.api('POST', `/v1/sessions/${s.id}/cancel`);
  });

  it('drain lets the busy runner finish its task, then it takes no more and leaves', async () => {
    const alive = (a: AgentProc) => a.proc.exitCode === null && a.proc.signalCode === null;
    const survivor = alive(big) ? big : small;
    const id = survivor === big ? bigId : smallId;
    const s = await create({ prompt: 'sleep 1; echo drained-ok' });
    await until(async () => ((await session(s.id)).tasks[0]?.state === 'running' ? true : null), 'running');
    const r = await srv.mctl(['runners', 'drain', id]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/draining/);
    const t2 = await srv.api<Task>('POST', `/v1/sessions/${s.id}/tasks`, { prompt: 'echo second' });
    expect(t2.status).toBe(201);
    expect(await survivor.exited).toBe(0);
    const v = await session(s.id);
    expect(v.tasks[0]!.state).toBe('succeeded');
    expect(v.tasks[1]!.state).toBe('queued'); // nobody took it: the only runner drained
    const runner = (await poolRunners(srv, 'lab', true)).find((x) => x.id === id)!;
    expect(runner.state).toBe('terminated');
    await srv.api('POST', `/v1/sessions/${s.id}/cancel`);
  });

  it('refuses a revoked token with a message that says it was revoked', async () => {
    const t = await createToken(srv, ['--pool', 'lab']);
    const rv = await srv.mctl(['runners', 'tokens', 'revoke', t.id]);
    expect(rv.code, rv.stderr).toBe(0);
    const a = agents.start(srv, ['--token', t.token, '--pool', 'lab', '--labels', 'os=linux']);
    expect(await a.exited).toBe(2);
    expect(a.output()).toMatch(/registration refused: registration token \S+ was revoked at/);
    const list = json<{ id: string; status: string }[]>(
      await srv.mctl(['-o', 'json', 'runners', 'tokens', 'list', '--pool', 'lab']),
    );
    expect(list.find((x) => x.id === t.id)?.status).toBe('revoked');
  });
});
