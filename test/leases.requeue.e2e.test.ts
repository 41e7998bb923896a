/**
 * Leases with short configured timeouts: a runner that stops heartbeating goes offline, its task
 * is lost and re-queued under the retry policy onto another runner; when the runner comes back it
 * is told to stop the task it still holds. With max_retries 0 a lost task stays lost.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processesWithEnv, type ServerHandle, startServer, type TaskView as Task, until } from './harness.js';
import { Agents, createToken, idleRunners, poolRunners } from './pools.helpers.js';

const CONFIG = `
runners:
  heartbeat_interval: 200ms
  lease_timeout: 1s
providers:
  pool:
    pools:
      lease: {}
`;

let srv: ServerHandle;
const agents = new Agents();
let token: string;

beforeAll(async () => {
  srv = await startServer({ config: CONFIG });
  token = (await createToken(srv, ['--pool', 'lease'])).token;
});
afterAll(async () => {
  agents.cleanup();
  await srv?.destroy();
});

async function tasksOf(id: string): Promise<Task[]> {
  return (await srv.api<{ tasks: Task[] }>('GET', `/v1/sessions/${id}`)).body.tasks;
}

describe('lease loss', () => {
  it('re-queues the task onto another runner and tells the returning runner to stop it', async () => {
    const a = agents.start(srv, ['--token', token, '--name', 'a']);
    const [ra] = await idleRunners(srv, 'lease', 1);
    const s = await srv.api<{ id: string }>('POST', '/v1/sessions', {
      agent: 'shell',
      pool: 'lease',
      prompt: 'echo begin; sleep 3; echo end',
    });
    const first = await until(async () => {
      const t = (await tasksOf(s.body.id))[0];
      return t?.state === 'running' ? t : null;
    }, 'first attempt running');
    expect(first.runnerId).toBe(ra!.id);
    a.kill('SIGSTOP'); // the agent stops heartbeating; its task process keeps running
    const lost = await until(async () => {
      const ts = await tasksOf(s.body.id);
      return ts[0]?.state === 'lost' && ts[1] ? ts : null;
    }, 'task lost and retried');
    expect(lost[1]).toMatchObject({ state: 'queued', attempt: 2, retryOf: first.id });
    expect((await poolRunners(srv, 'lease', true)).find((r) => r.id === ra!.id)?.state).toBe('offline');
    // Another runner joins and takes the retry.
    agents.start(srv, ['--token', token, '--name', 'b']);
    // The first runner comes back: it must stop the lost attempt, not report it. Its own fence sees
    // the lease long past and kills the task at once, or the server's welcome tells it to.
    a.kill('SIGCONT');
    await until(
      async () =>
        a.output().includes(`server gave up on task ${first.id}`) ||
        a.output().includes(`killing task ${first.id} before the lease lapses`)
          ? true
          : null,
      'told to stop',
    );
    await until(
      async () => (processesWithEnv('MARIONETTE_TASK_ID', first.id).length === 0 ? true : null),
      'lost attempt killed',
    );
    const done = await until(
      async () => {
        const ts = await tasksOf(s.body.id);
        return ts[1]?.state === 'succeeded' ? ts : null;
      },
      'retry succeeded',
      30_000,
    );
    expect(done).toHaveLength(2);
    expect(done[0]!.state).toBe('lost'); // the late runner did not resurrect it
    const back = await until(async () => {
      const r = (await poolRunners(srv, 'lease')).find((x) => x.id === ra!.id);
      return r?.state === 'idle' || r?.state === 'busy' ? r : null;
    }, 'runner a back in service');
    expect(back.id).toBe(ra!.id);
    await srv.api('POST', `/v1/sessions/${s.body.id}/cancel`);
  });

  it('with max_retries 0 a lost task is not retried', async () => {
    await idleRunners(srv, 'lease', 2);
    const s = await srv.api<{ id: string }>('POST', '/v1/sessions', {
      agent: 'shell',
      pool: 'lease',
      prompt: 'sleep 5',
      maxRetries: 0,
    });
    const t = await until(async () => {
      const x = (await tasksOf(s.body.id))[0];
      return x?.state === 'running' ? x : null;
    }, 'running');
    const victim = agents.procs.find((p) => p.output().includes(`registered as runner ${t.runnerId}`))!;
    victim.kill('SIGKILL');
    await until(async () => ((await tasksOf(s.body.id))[0]?.state === 'lost' ? true : null), 'lost');
    await until(async () => {
      const e = await srv.api<{ items: { type: string }[] }>('GET', `/v1/sessions/${s.body.id}/events`);
      return e.body.items.some((x) => x.type === 'task_lost') ? true : null;
    }, 'task_lost event');
    expect(await tasksOf(s.body.id)).toHaveLength(1);
  });
});
