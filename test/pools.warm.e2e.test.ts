/**
 * Warm managed pools (local provider): min_runners idle runners come up by themselves, demand
 * grows the pool up to max_runners and never past it, and idle runners beyond min_runners are
 * reaped after idle_timeout. Lowering min_runners from the CLI shrinks the pool.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerHandle, startServer, until } from './harness.js';
import { idleRunners, poolRunners } from './pools.helpers.js';

const CONFIG = `
sessions:
  idle_timeout: 1s
pools:
  warm:
    provider: local
    min_runners: 2
    max_runners: 4
    idle_timeout: 2s
`;

let srv: ServerHandle;
beforeAll(async () => {
  srv = await startServer({ config: CONFIG });
});
afterAll(async () => {
  await srv?.destroy();
});

describe('warm managed pool', () => {
  it('keeps min_runners idle runners warm from the start', async () => {
    const rs = await idleRunners(srv, 'warm', 2);
    expect(rs.every((r) => r.sessionId === null)).toBe(true);
    expect(await poolRunners(srv, 'warm')).toHaveLength(2);
  });

  it('grows to max_runners on demand, never past it, then shrinks back to min_runners after idle_timeout', async () => {
    const warmIds = new Set((await poolRunners(srv, 'warm')).map((r) => r.id));
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await srv.api<{ id: string }>('POST', '/v1/sessions', {
        agent: 'shell',
        pool: 'warm',
        prompt: `sleep 1; echo s${i}`,
      });
      expect(r.status).toBe(201);
      ids.push(r.body.id);
    }
    let most = 0;
    const placedOn = new Set<string>();
    await until(
      async () => {
        most = Math.max(most, (await poolRunners(srv, 'warm')).length);
        let done = 0;
        for (const id of ids) {
          const s = await srv.api<{ tasks: { state: string; runnerId: string | null }[] }>('GET', `/v1/sessions/${id}`);
          const t = s.body.tasks[0];
          if (t?.runnerId) placedOn.add(t.runnerId);
          if (t?.state === 'succeeded') done++;
        }
        return done === ids.length;
      },
      'all six tasks done',
      60_000,
    );
    expect(most).toBeLessThanOrEqual(4);
    expect(most).toBeGreaterThan(2);
    expect([...warmIds].every((id) => placedOn.has(id))).toBe(true); // the warm runners took work first
    // Sessions complete after sessions.idle_timeout and give their runners back; idle_timeout reaps the extras.
    const after = await until(
      async () => {
        const rs = await poolRunners(srv, 'warm');
        return rs.length === 2 && rs.every((r) => r.state === 'idle' && r.sessionId === null) ? rs : null;
      },
      'pool back to two idle runners',
      60_000,
    );
    expect(after).toHaveLength(2);
    const all = await poolRunners(srv, 'warm', true);
    expect(all.filter((r) => r.state === 'terminated').length).toBeGreaterThan(0);
  });

  it('a pool created and resized from the CLI follows its min_runners', async () => {
    const c = await srv.mctl([
      'pools',
      'create',
      'warm2',
      '--provider',
      'local',
      '--min-runners',
      '1',
      '--max-runners',
      '2',
      '--idle-timeout',
      '1s',
    ]);
    expect(c.code, c.stderr).toBe(0);
    await idleRunners(srv, 'warm2', 1);
    const u = await srv.mctl(['pools', 'update', 'warm2', '--min-runners', '0']);
    expect(u.code, u.stderr).toBe(0);
    await until(async () => ((await poolRunners(srv, 'warm2')).length === 0 ? true : null), 'warm2 reaped');
    const show = await srv.mctl(['pools', 'show', 'warm2']);
    expect(show.stdout).toMatch(/0 \(0 idle\)/);
  });
});
