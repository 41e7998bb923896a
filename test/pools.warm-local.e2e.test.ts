/**
 * The default `local` pool keeps one runner warm (`providers.local.warm_runners`, default 1): a
 * new session is bound to the runner that was already registered and idle, a fresh one is started
 * in its place, and the session's runner goes with the session (the next session never finds its
 * files). `warm_runners: 0` keeps none; a bad value is a clear error naming the key. Every runner
 * is gone after the server is destroyed (the leak sweep of test/global-setup.ts checks it too).
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processesWithEnv, type ServerHandle, startServer, until } from './harness.js';
import { poolRunners, type RunnerRow } from './pools.helpers.js';

let srv: ServerHandle;
beforeAll(async () => {
  srv = await startServer();
});
afterAll(async () => {
  await srv?.destroy();
});

interface SessionView {
  id: string;
  state: string;
  runnerId: string | null;
  tasks: { id: string; state: string }[];
}

/** Waits until the local pool of `server` has exactly one idle runner bound to no session; returns it. */
function warmRunner(server: ServerHandle): Promise<RunnerRow> {
  return until(
    async () => {
      const rs = (await poolRunners(server, 'local')).filter((r) => r.state === 'idle' && r.sessionId === null);
      return rs.length === 1 ? rs[0] : null;
    },
    'one idle unbound runner in pool local',
    30_000,
  );
}

async function sessionDone(id: string): Promise<SessionView> {
  return until(async () => {
    const s = (await srv.api<SessionView>('GET', `/v1/sessions/${id}`)).body;
    return s.tasks.every((t) => t.state === 'succeeded') && s.runnerId ? s : null;
  }, `session ${id}'s task to succeed`);
}

describe('the default local pool keeps a runner warm', () => {
  it('a new session is bound to the idle warm runner; a fresh one takes its place', async () => {
    const warm = await warmRunner(srv);
    const pool = (await srv.api<{ minRunners: number }>('GET', '/v1/pools/local')).body;
    expect(pool.minRunners).toBe(1);
    const r = await srv.api<SessionView>('POST', '/v1/sessions', { agent: 'shell', prompt: 'echo one > mine.txt' });
    expect(r.status).toBe(201);
    const s = await sessionDone(r.body.id);
    expect(s.runnerId).toBe(warm.id);
    // The session works where every local session does; the runner's own directory leads there.
    const ws = join(srv.home, 'workspaces', s.id);
    expect(readFileSync(join(ws, 'mine.txt'), 'utf8')).toBe('one\n');
    const own = (await srv.api<{ handle: { metadata: { workspace: string } } }>('GET', `/v1/runners/${warm.id}`)).body;
    expect(realpathSync(own.handle.metadata.workspace)).toBe(realpathSync(ws));
    // The replacement comes up unbound, and there is exactly one.
    const next = await warmRunner(srv);
    expect(next.id).not.toBe(warm.id);
    expect(next.sessionId).toBeNull();

    // Closing the session stops its runner (it does not go back to the pool with the session's files).
    expect((await srv.api('POST', `/v1/sessions/${s.id}/cancel`, {})).status).toBe(200);
    await until(
      async () => ((await poolRunners(srv, 'local')).some((x) => x.id === warm.id) ? null : true),
      'the session runner to be stopped',
    );
    const second = await srv.api<SessionView>('POST', '/v1/sessions', {
      agent: 'shell',
      prompt: 'test ! -e mine.txt',
    });
    const s2 = await sessionDone(second.body.id);
    expect(s2.runnerId).toBe(next.id);
    await warmRunner(srv);
  });

  it('warm_runners: 0 keeps none; a bad value names the key', async () => {
    const off = await startServer({ config: 'providers:\n  local:\n    warm_runners: 0\n' });
    try {
      expect((await off.api<{ minRunners: number }>('GET', '/v1/pools/local')).body.minRunners).toBe(0);
      await new Promise((res) => setTimeout(res, 1500));
      expect(await poolRunners(off, 'local', true)).toEqual([]);
      expect(existsSync(join(off.home, 'runners'))).toBe(false);
    } finally {
      await off.destroy();
    }
    for (const [value, message] of [
      ['-1', /providers\.local: warm_runners: Too small/],
      ['9', /providers\.local\.warm_runners: min_runners \(9\) is larger than max_runners \(8\)/],
    ] as const)
      await expect(startServer({ config: `providers:\n  local:\n    warm_runners: ${value}\n` })).rejects.toThrow(
        message,
      );
  });

  it('destroying the server leaves no runner behind', async () => {
    const other = await startServer();
    const gateway = `unix:${join(other.home, 'run', 'gateway.sock')}`;
    await warmRunner(other);
    expect(processesWithEnv('MARIONETTE_GATEWAY', gateway).length).toBeGreaterThan(0);
    await other.destroy();
    await until(
      async () => (processesWithEnv('MARIONETTE_GATEWAY', gateway).length === 0 ? true : null),
      'the warm runner to be gone',
    );
  });
});
