/**
 * Load across replicas (bounded: 500 sessions, 3 replicas, 20 runners, at most 15 minutes): the
 * sessions are created round-robin through the three replicas; half the runners are attached to
 * replica A first; `kill -9` of A once 150 tasks have succeeded. Every session ends with exactly one
 * task, succeeded (none lost, none run twice), and every task's output line is stored exactly once.
 */
import { afterAll, expect, it } from 'vitest';
import type { ServerHandle } from './harness.js';
import { until } from './harness.js';
import { postgresDescribe } from './pg.support.js';
import { Agents, createToken, idleRunners } from './pools.helpers.js';
import { type Replicas, replicas } from './replicas.support.js';

const SESSIONS = 500;
const RUNNERS = 20;
const CONFIG = `
database:
  loop_lease: 3s
runners:
  heartbeat_interval: 1s
  lease_timeout: 30s
providers:
  pool:
    pools:
      edge: { lifecycle: per-task }
`;

const agents = new Agents();
let r: Replicas | null = null;
afterAll(async () => {
  agents.cleanup();
  await r?.destroy();
});

async function counts(rs: Replicas): Promise<Record<string, number>> {
  const rows = await rs.query<{ state: string; n: string }>('select state, count(*) as n from tasks group by state');
  return Object.fromEntries(rows.map((x) => [x.state, Number(x.n)]));
}

postgresDescribe('load across replicas', () => {
  it(`${SESSIONS} sessions over 3 replicas and ${RUNNERS} runners, kill -9 of one mid-run: none lost or doubled`, {
    timeout: 900_000,
  }, async () => {
    r = await replicas();
    const rs = r;
    const [a, b, c] = [await rs.add(CONFIG), await rs.add(CONFIG), await rs.add(CONFIG)] as [
      ServerHandle,
      ServerHandle,
      ServerHandle,
    ];
    const gw = (s: ServerHandle) => `127.0.0.1:${s.gatewayPort}`;
    const token = (await createToken(b, ['--pool', 'edge'])).token;
    for (let i = 0; i < RUNNERS; i++) {
      const order = i < RUNNERS / 2 ? [a, b, c] : [b, c, a];
      agents.start(b, ['--server', order.map(gw).join(','), '--token', token, '--name', `r${i}`]);
    }
    await idleRunners(b, 'edge', RUNNERS, 120_000);

    const via = [a, b, c];
    const ids: string[] = new Array(SESSIONS);
    let next = 0;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        for (let i = next++; i < SESSIONS; i = next++) {
          const res = await via[i % 3]!.api<{ id: string }>('POST', '/v1/sessions', {
            agent: 'shell',
            pool: 'edge',
            prompt: `echo s-${i}`,
          });
          if (res.status !== 201) throw new Error(`session ${i}: ${res.status} ${JSON.stringify(res.body)}`);
          ids[i] = res.body.id;
        }
      }),
    );
    await until(async () => ((await counts(rs)).succeeded ?? 0) >= 150, '150 tasks succeeded', 300_000);
    await a.stop(true); // kill -9 of the replica holding half the runners
    const end = await until(
      async () => {
        const n = await counts(rs);
        const open = (n.queued ?? 0) + (n.assigned ?? 0) + (n.running ?? 0);
        return open === 0 ? n : null;
      },
      'every task to end',
      400_000,
    );
    expect(end).toEqual({ succeeded: SESSIONS });
    const perSession = await rs.query<{ session_id: string; n: string }>(
      'select session_id, count(*) as n from tasks group by session_id',
    );
    expect(perSession).toHaveLength(SESSIONS);
    expect(perSession.every((x) => Number(x.n) === 1)).toBe(true);
    const lines = await rs.query<{ session_id: string; line: string }>(
      "select session_id, line from task_logs where line like 's-%'",
    );
    expect(lines).toHaveLength(SESSIONS);
    const bySession = new Map(lines.map((l) => [l.session_id, l.line]));
    for (let i = 0; i < SESSIONS; i++) expect(bySession.get(ids[i]!)).toBe(`s-${i}`);
  });
});
