/**
 * Singleton loops under the PostgreSQL loop lease: with two replicas on one database only one runs
 * the lease reaper, reconcilers and autoscaler; `kill -9` of it moves them to the other within the
 * lease's time to live, and a runner lease that expires after its replica died is still detected.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, expect, it } from 'vitest';
import { until } from './harness.js';
import { postgresDescribe } from './pg.support.js';
import { Agents, createToken, idleRunners, poolRunners } from './pools.helpers.js';
import { type Replicas, replicas, serverLog } from './replicas.support.js';

const CONFIG = `
database:
  loop_lease: 1500ms
runners:
  heartbeat_interval: 300ms
  lease_timeout: 3s
providers:
  pool:
    pools:
      edge: {}
`;

const agents = new Agents();
let r: Replicas | null = null;
afterAll(async () => {
  agents.cleanup();
  await r?.destroy();
});

postgresDescribe('singleton loops across replicas', () => {
  it('run on one replica, move on kill -9, and still detect an expired runner lease', {
    timeout: 180_000,
  }, async () => {
    r = await replicas();
    const a = await r.add(CONFIG);
    const b = await r.add(CONFIG);
    // A started first and took the lease; B waits. Over several renewals it stays with A.
    expect(await until(async () => r!.loopHolderPid(), 'a loop lease holder')).toBe(a.proc.pid);
    await sleep(3_000);
    expect(await r.loopHolderPid()).toBe(a.proc.pid);
    expect(serverLog(a)).toContain('this replica runs the singleton loops');
    expect(serverLog(b)).not.toContain('this replica runs the singleton loops');

    // A runner on A's gateway only: once A is gone it cannot reconnect, so its lease expires.
    const token = (await createToken(a, ['--pool', 'edge'])).token;
    const agent = agents.start(a, ['--token', token, '--name', 'on-a']);
    const [runner] = await idleRunners(b, 'edge', 1);
    await a.stop(true); // kill -9
    agent.kill('SIGKILL');
    const holder = await until(
      async () => ((await r!.loopHolderPid()) === b.proc.pid ? b.proc.pid : null),
      'B to take the singleton loops',
      30_000,
    );
    expect(holder).toBe(b.proc.pid);
    expect(serverLog(b)).toContain('this replica runs the singleton loops');
    // B's lease reaper (it runs only there now) finds the runner's lease expired.
    const offline = await until(
      async () => (await poolRunners(b, 'edge', true)).find((x) => x.id === runner!.id && x.state === 'offline'),
      'the dead replica’s runner to go offline',
      30_000,
    );
    expect(offline.state).toBe('offline');
  });
});
