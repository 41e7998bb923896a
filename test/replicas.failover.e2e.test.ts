/**
 * Agent failover between replicas: a runner given both gateways (`--server a,b`) runs a task
 * through replica A; `kill -9` of A mid-task, the agent reconnects to B within its lease, resumes
 * shipping its log from the acknowledged sequence, and the task finishes exactly once (one attempt,
 * succeeded) with every log line stored once.
 */
import { afterAll, expect, it } from 'vitest';
import type { SessionView } from './harness.js';
import { until } from './harness.js';
import { postgresDescribe } from './pg.support.js';
import { Agents, createToken, idleRunners } from './pools.helpers.js';
import { type Replicas, replicas } from './replicas.support.js';

const CONFIG = `
database:
  loop_lease: 1500ms
runners:
  heartbeat_interval: 300ms
  lease_timeout: 8s
providers:
  pool:
    pools:
      edge: {}
`;
const LINES = 300;

const agents = new Agents();
let r: Replicas | null = null;
afterAll(async () => {
  agents.cleanup();
  await r?.destroy();
});

postgresDescribe('agent failover between replicas', () => {
  it('kill -9 of the replica holding the runner mid-task: the task finishes once, every line once', {
    timeout: 240_000,
  }, async () => {
    r = await replicas();
    const a = await r.add(CONFIG);
    const b = await r.add(CONFIG);
    const token = (await createToken(a, ['--pool', 'edge'])).token;
    const agent = agents.start(a, [
      '--server',
      `127.0.0.1:${a.gatewayPort},127.0.0.1:${b.gatewayPort}`,
      '--token',
      token,
      '--name',
      'both',
    ]);
    const [runner] = await idleRunners(b, 'edge', 1);
    const s = await b.api<{ id: string }>('POST', '/v1/sessions', {
      agent: 'shell',
      pool: 'edge',
      prompt: `for i in $(seq 1 ${LINES}); do echo "n-$i"; sleep 0.02; done`,
    });
    expect(s.status).toBe(201);
    const task = await until(async () => {
      const t = (await b.api<SessionView>('GET', `/v1/sessions/${s.body.id}`)).body.tasks[0];
      return t?.state === 'running' ? t : null;
    }, 'the task running');
    expect(task.runnerId).toBe(runner!.id);
    // Some lines are stored (shipped through A) before A dies.
    await until(async () => {
      const p = await b.api<{ items: unknown[] }>('GET', `/v1/tasks/${task.id}/logs?limit=20`);
      return p.body.items.length >= 20 ? true : null;
    }, 'the first lines stored');
    await a.stop(true); // kill -9
    const done = await until(
      async () => {
        const v = (await b.api<SessionView>('GET', `/v1/sessions/${s.body.id}`)).body;
        return v.tasks.every((t) => t.state !== 'running' && t.state !== 'assigned' && t.state !== 'queued') ? v : null;
      },
      'the task to end through B',
      120_000,
    );
    expect(agent.output()).toContain(`trying the gateway at 127.0.0.1:${b.gatewayPort}`);
    expect(done.tasks).toHaveLength(1);
    expect(done.tasks[0]).toMatchObject({ id: task.id, state: 'succeeded', attempt: 1, runnerId: runner!.id });
    const lines: string[] = [];
    let after = 0;
    for (;;) {
      const p = await b.api<{ items: { id: number; seq: number; line: string }[]; next: number | null }>(
        'GET',
        `/v1/tasks/${task.id}/logs?after=${after}&limit=1000`,
      );
      lines.push(...p.body.items.map((l) => l.line));
      if (p.body.next === null) break;
      after = p.body.next;
    }
    expect(lines.filter((l) => /^n-\d+$/.test(l))).toEqual(Array.from({ length: LINES }, (_, i) => `n-${i + 1}`));
  });
});
