/**
 * `max_runners` and `idle_timeout` for pools whose machines dial in, with real agents: a
 * registration past `max_runners` is refused and the agent exits non-zero with the reason (no
 * reconnect loop), an offline runner coming back to a full pool is refused the same way, and a
 * runner idle (and bound to no session) longer than `idle_timeout` is told to exit. The pools are
 * declared in the seed's format (`providers.pool.pools`) with bare numbers, which are seconds.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerHandle, type SessionView, startServer, type TaskView, until } from './harness.js';
import { Agents, createToken, idleRunners, poolRunners } from './pools.helpers.js';

let srv: ServerHandle;
const agents = new Agents();
beforeAll(async () => {
  srv = await startServer({
    config: [
      'runners: {heartbeat_interval: 1, lease_timeout: 3}',
      'providers:',
      '  pool:',
      '    pools:',
      '      capped: {max_runners: 1, idle_timeout: 5m}',
      '      brief: {idle_timeout: 6, priority: 5}',
      '',
    ].join('\n'),
  });
});
afterAll(async () => {
  agents.cleanup();
  await srv?.destroy();
});

interface PoolView {
  name: string;
  mode: string;
  maxRunners: number | null;
  idleTimeoutMs: number | null;
}

describe('pool-mode limits', { timeout: 120_000 }, () => {
  it('reads the seed-format durations as seconds or with their unit', async () => {
    const capped = (await srv.api<PoolView>('GET', '/v1/pools/capped')).body;
    const brief = (await srv.api<PoolView>('GET', '/v1/pools/brief')).body;
    expect(capped).toMatchObject({ mode: 'pool', maxRunners: 1, idleTimeoutMs: 300_000 });
    expect(brief).toMatchObject({ mode: 'pool', idleTimeoutMs: 6000 });
  });

  it('refuses a registration past max_runners; the agent prints why and exits non-zero', async () => {
    const { token } = await createToken(srv, ['--pool', 'capped']);
    const first = agents.start(srv, ['--token', token, '--name', 'first']);
    await idleRunners(srv, 'capped', 1);

    const second = agents.start(srv, ['--token', token, '--name', 'second']);
    expect(await second.exited).toBe(2);
    expect(second.output()).toContain('registration refused: pool capped is full');
    expect(second.output()).toContain('max_runners 1');
    expect(second.output()).not.toContain('reconnecting');
    expect((await poolRunners(srv, 'capped', true)).map((r) => r.name)).toEqual(['first']);

    // Room again once the first one leaves.
    const id = (await poolRunners(srv, 'capped'))[0]!.id;
    expect((await srv.mctl(['runners', 'drain', id])).code).toBe(0);
    expect(await first.exited).toBe(0);
    await until(async () => (await poolRunners(srv, 'capped')).length === 0, 'the drained runner to go');
    const third = agents.start(srv, ['--token', token, '--name', 'third']);
    await idleRunners(srv, 'capped', 1);
    third.kill('SIGTERM');
    await third.exited;
  });

  it('refuses an offline runner coming back to a full pool, at its hello', async () => {
    const live = async () => (await poolRunners(srv, 'capped')).filter((r) => r.state !== 'offline');
    await until(async () => (await live()).length === 0, 'capped to have no live runner', 30_000);
    const { token } = await createToken(srv, ['--pool', 'capped']);
    const args = ['--token', token, '--name', 'returning'];
    let returning = agents.start(srv, args);
    args.push('--state-dir', join(returning.dir, 'state'));
    returning.kill('SIGKILL');
    returning = agents.start(srv, args);
    await idleRunners(srv, 'capped', 1);
    // It dies; its lease (3 s) runs out and it goes offline, making room for another. Every runner
    // named `returning` must be offline: the first start, killed at once, may have registered too,
    // and going offline first it would otherwise let the test go on while this one is still live.
    returning.kill('SIGKILL');
    await until(async () => {
      const mine = (await poolRunners(srv, 'capped', true)).filter((r) => r.name === 'returning');
      return mine.length > 0 && mine.every((r) => r.state === 'offline' || r.state === 'terminated');
    }, 'the dead runner to go offline');
    const other = agents.start(srv, ['--token', token, '--name', 'other']);
    await until(
      async () => (await live()).map((r) => `${r.name}:${r.state}`).join() === 'other:idle',
      'the other runner to take the place',
    );

    // Back with its kept credential: no place for it.
    const back = agents.start(srv, args);
    const code = await Promise.race([back.exited, sleep(60_000).then(() => 'still running after 60 s')]);
    expect(code, back.output()).toBe(1);
    expect(back.output()).toContain('pool capped is full');
    expect(back.output()).not.toContain('reconnecting');
    expect((await live()).map((r) => r.name)).toEqual(['other']);
    other.kill('SIGTERM');
    await other.exited;
  });

  it('tells a runner idle longer than idle_timeout to exit, and never one at work', async () => {
    const { token } = await createToken(srv, ['--pool', 'brief']);
    const args = ['--token', token, '--name', 'worker'];
    let worker = agents.start(srv, args);
    args.push('--state-dir', join(worker.dir, 'state'));
    worker.kill('SIGKILL');
    worker = agents.start(srv, args);
    await idleRunners(srv, 'brief', 1);
    // Busy for longer than idle_timeout (6 s, wide enough that a loaded machine places the session
    // before the fresh runner idles out): not reaped.
    const s = await srv.api<SessionView>('POST', '/v1/sessions', { agent: 'shell', pool: 'brief', prompt: 'sleep 7' });
    expect(s.status).toBe(201);
    const task = await until(
      async () => {
        const t = (await srv.api<TaskView>('GET', `/v1/tasks/${s.body.tasks[0]!.id}`)).body;
        return t.state === 'succeeded' || t.state === 'failed' || t.state === 'lost' ? t : null;
      },
      'the task to end',
      30_000,
    );
    expect(task.state).toBe('succeeded');
    expect(worker.proc.exitCode).toBeNull();

    // Let go by its session, then idle past idle_timeout: told to shut down, the agent exits 0.
    expect((await srv.mctl(['sessions', 'cancel', s.body.id])).code).toBe(0);
    expect(await worker.exited).toBe(0);
    expect(worker.output()).toContain("server asked to shut down: idle longer than the pool's idle_timeout (6s)");
    const rows = await poolRunners(srv, 'brief', true);
    expect(rows.map((r) => [r.name, r.state])).toEqual([['worker', 'terminated']]);

    // Started again (a service manager would), its kept credential is that of a terminated
    // runner: it registers anew with its token instead of failing, and is let go again when idle.
    const again = agents.start(srv, args);
    expect(await again.exited).toBe(0);
    expect(again.output()).toContain('is no longer known to the server; registering again with the token');
    expect(again.output()).toContain('server asked to shut down');
    const after = await poolRunners(srv, 'brief', true);
    expect(after.map((r) => r.state)).toEqual(['terminated', 'terminated']);
  });
});
