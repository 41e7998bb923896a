/**
 * Durability: the server is killed with SIGKILL mid-task and restarted; the runner (a detached
 * child process) keeps running, reconnects, resends what was not acknowledged, and the task
 * finishes with every line in the log exactly once. A runner killed mid-task makes its task
 * `lost` (and the retry policy queues a new attempt).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type ServerHandle, startServer, type TaskView as Task, until } from './harness.js';

const servers: ServerHandle[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.destroy();
});

describe('server kill -9 and restart mid-task', () => {
  it('keeps the session and output, reattaches the runner, and loses or doubles no line', async () => {
    const srv = await startServer({ config: 'runners:\n  heartbeat_interval: 500ms\n  lease_timeout: 10s\n' });
    servers.push(srv);
    const n = 60;
    const created = await srv.api<{ id: string; tasks: Task[] }>('POST', '/v1/sessions', {
      agent: 'shell',
      prompt: `for i in $(seq 1 ${n}); do echo line-$i; sleep 0.05; done`,
    });
    expect(created.status).toBe(201);
    const sid = created.body.id;
    const tid = created.body.tasks[0]!.id;
    await until(async () => {
      const r = await srv.api<{ items: unknown[] }>('GET', `/v1/tasks/${tid}/logs`);
      return r.body.items.length >= 5;
    }, 'some output');
    await srv.stop(true); // SIGKILL
    await new Promise((r) => setTimeout(r, 800)); // the runner keeps producing lines meanwhile
    const again = await srv.restart();
    servers.push(again);
    const list = await again.mctl(['-o', 'json', 'sessions', 'list']);
    expect((JSON.parse(list.stdout) as { id: string }[]).map((s) => s.id)).toContain(sid);
    const done = await until(
      async () => {
        const t = (await again.api<Task>('GET', `/v1/tasks/${tid}`)).body;
        return ['succeeded', 'failed', 'lost'].includes(t.state) ? t : null;
      },
      'task finished after restart',
      30_000,
    );
    expect(done.state).toBe('succeeded');
    const logs = await again.mctl(['tasks', 'logs', tid]);
    const lines = logs.stdout.split('\n').filter(Boolean);
    expect(lines).toEqual(Array.from({ length: n }, (_, i) => `line-${i + 1}`));
  });
});

describe('runner killed mid-task', () => {
  it('marks the task lost and queues a retry on a new runner', async () => {
    const srv = await startServer({ config: 'runners:\n  heartbeat_interval: 200ms\n  lease_timeout: 1500ms\n' });
    servers.push(srv);
    const created = await srv.api<{ id: string; tasks: Task[] }>('POST', '/v1/sessions', {
      agent: 'shell',
      prompt: 'echo started; sleep 2; echo finished',
    });
    const tid = created.body.tasks[0]!.id;
    const running = await until(async () => {
      const t = (await srv.api<Task>('GET', `/v1/tasks/${tid}`)).body;
      return t.state === 'running' ? t : null;
    }, 'task running');
    const runner = (await srv.api<{ handle: { externalId: string } }>('GET', `/v1/runners/${running.runnerId}`)).body;
    process.kill(Number(runner.handle.externalId), 'SIGKILL'); // the agent process only
    const lost = await until(async () => {
      const t = (await srv.api<Task>('GET', `/v1/tasks/${tid}`)).body;
      return t.state === 'lost' ? t : null;
    }, 'task lost');
    // Whichever notices first: the lease reaper, or the reconciler finding the agent process dead.
    expect(lost.error).toMatch(/lease expired|the sandbox of runner \S+ is terminated/);
    const retry = await until(
      async () => {
        const items = (await srv.api<{ items: Task[] }>('GET', `/v1/tasks?session=${created.body.id}`)).body.items;
        return items.find((t) => t.retryOf === tid && t.state === 'succeeded') ?? null;
      },
      'retry succeeded',
      30_000,
    );
    expect(retry.attempt).toBe(2);
    expect(retry.runnerId).not.toBe(running.runnerId);
    const r = (await srv.api<{ state: string }>('GET', `/v1/runners/${running.runnerId}`)).body;
    expect(['offline', 'terminated']).toContain(r.state);
  });
});
