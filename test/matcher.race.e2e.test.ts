/**
 * The matcher's guarantees under load: 200 tasks raced over 20 real agents in a per-task pool,
 * created concurrently. Every task runs exactly once (none lost, none doubled: one runner, one
 * log line of its own id, attempt 1), and no runner ever holds two tasks at once (its
 * assigned→finished intervals never overlap).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerHandle, startServer, until } from './harness.js';
import { Agents, createToken, idleRunners } from './pools.helpers.js';

interface Task {
  id: string;
  state: string;
  attempt: number;
  runnerId: string | null;
  assignedAt: number | null;
  finishedAt: number | null;
}

const RUNNERS = 20;
const TASKS = 200;

let srv: ServerHandle;
const agents = new Agents();
beforeAll(async () => {
  srv = await startServer();
  const c = await srv.mctl(['pools', 'create', 'race', '--mode', 'pool', '--lifecycle', 'per-task']);
  expect(c.code, c.stderr).toBe(0);
  const { token } = await createToken(srv, ['--pool', 'race']);
  for (let i = 0; i < RUNNERS; i++) agents.start(srv, ['--token', token, '--name', `r${i}`, '--labels', `n=${i}`]);
  await idleRunners(srv, 'race', RUNNERS, 90_000);
}, 120_000);
afterAll(async () => {
  agents.cleanup();
  await srv?.destroy();
});

describe(`${TASKS} tasks over ${RUNNERS} runners`, () => {
  it('runs every task exactly once and never gives a runner two tasks at once', async () => {
    const sessions: string[] = [];
    for (let batch = 0; batch < TASKS / 20; batch++) {
      const made = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          srv.api<{ id: string }>('POST', '/v1/sessions', {
            agent: 'shell',
            pool: 'race',
            prompt: 'echo "$MARIONETTE_TASK_ID"',
            priority: (batch * 20 + i) % 3,
          }),
        ),
      );
      for (const m of made) {
        expect(m.status).toBe(201);
        sessions.push(m.body.id);
      }
    }
    const tasks = await until(
      async () => {
        const r = await srv.api<{ items: Task[] }>('GET', '/v1/tasks?limit=1000');
        const done = r.body.items.filter(
          (t) => t.state !== 'queued' && t.state !== 'assigned' && t.state !== 'running',
        );
        return done.length >= TASKS ? r.body.items : null;
      },
      'all tasks finished',
      120_000,
    );
    expect(tasks).toHaveLength(TASKS); // no retries were needed: nothing lost
    expect(tasks.filter((t) => t.state !== 'succeeded')).toEqual([]);
    expect(tasks.every((t) => t.attempt === 1)).toBe(true);
    expect(new Set(tasks.map((t) => t.id)).size).toBe(TASKS);
    // Each task ran once: exactly one output line, its own id.
    for (const t of tasks) {
      const logs = await srv.api<{ items: { stream: string; line: string }[] }>('GET', `/v1/tasks/${t.id}/logs`);
      expect(logs.body.items.filter((l) => l.stream === 'stdout').map((l) => l.line)).toEqual([t.id]);
    }
    // A runner holds one task at a time.
    const byRunner = new Map<string, Task[]>();
    for (const t of tasks) byRunner.set(t.runnerId!, [...(byRunner.get(t.runnerId!) ?? []), t]);
    expect(byRunner.size).toBeGreaterThan(1);
    for (const [runner, list] of byRunner) {
      list.sort((a, b) => a.assignedAt! - b.assignedAt!);
      for (let i = 1; i < list.length; i++)
        expect(list[i]!.assignedAt!, `runner ${runner} overlapped`).toBeGreaterThanOrEqual(list[i - 1]!.finishedAt!);
    }
    for (const a of agents.procs) expect(a.output()).not.toMatch(/refusing task/);
  });
});
