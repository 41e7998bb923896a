/**
 * @module A provider's maximum session duration (`maxSessionDurationSeconds`), on the E2B stand-in
 * with the e2b config's `maxSessionDuration` lowered to 30 s and `sessions.ceiling_margin` 10 s: a
 * task running at the deadline is not killed (the session waits for it, saying so in an event),
 * then the session is suspended (not failed) with the pool's strategy, its pause replaced by the
 * fallback snapshot since a pause would keep the aging sandbox, and the reason names the ceiling;
 * resume brings it back on a new sandbox with the workspace intact and a fresh ceiling. A server
 * restarted meanwhile computes the same deadline from the runner's start in the store.
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { dockerDescribe } from '../src/providers/docker/docker.test-support.js';
import { addTask, createSession, getSession, sessionIn, taskDone, taskLines } from './docker.support.js';
import { type E2bTarget, e2bPrefix, e2bTarget } from './e2b.support.js';
import { type ServerHandle, startServer, until } from './harness.js';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

interface Ev {
  type: string;
  data: Record<string, unknown>;
}

dockerDescribe('the session ceiling (maxSessionDurationSeconds) on the E2B stand-in', () => {
  const prefix = e2bPrefix();
  let target: E2bTarget;
  let srv: ServerHandle;

  beforeAll(async () => {
    target = await e2bTarget(prefix);
    const gatewayPort = await freePort();
    srv = await startServer({
      gatewayPort,
      env: { E2B_API_KEY: target.apiKey },
      config: [
        'runners: { lease_timeout: 1m }',
        'sessions: { ceiling_margin: 10s }',
        `providers:\n  e2b: ${JSON.stringify(target.config(gatewayPort, { maxSessionDuration: '30s' }))}`,
        '',
      ].join('\n'),
    });
    const r = await srv.api('POST', '/v1/pools', {
      name: 'short',
      provider: 'e2b',
      mode: 'managed',
      suspendConfig: { strategy: 'pause', fallback: 'snapshot' },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
  }, 300_000);

  afterAll(async () => {
    await srv?.destroy();
    const rest = target ? await target.standin.leftovers().catch(() => []) : [];
    await target?.close();
    expect(rest).toEqual([]);
  }, 120_000);

  it('suspends (not fails) before the ceiling, after the running task, and resumes on a fresh sandbox with the workspace', async () => {
    const created = await createSession(srv, {
      pool: 'short',
      prompt: 'echo keep > /workspace/keep.txt; sleep 25; echo slept',
    });
    const first = await taskDone(srv, created.tasks![0]!.id, 180_000);
    expect(first.state, (await taskLines(srv, first.id)).join('\n')).toBe('succeeded');
    expect(await taskLines(srv, first.id)).toContain('slept');

    const suspended = await sessionIn(srv, created.id, ['suspended'], 120_000);
    expect(suspended.stateReason).toMatch(/maximum session duration .*maxSessionDurationSeconds 30/);
    const full = (await getSession(srv, created.id)) as unknown as { suspend: { strategy: string } | null };
    expect(full.suspend?.strategy).toBe('snapshot');
    const events = (await srv.api<{ items: Ev[] }>('GET', `/v1/sessions/${created.id}/events`)).body.items;
    const ceiling = events.filter((e) => e.type === 'ceiling_reached');
    expect(ceiling.length, JSON.stringify(events)).toBeGreaterThanOrEqual(1);
    expect(String(ceiling[0]!.data.reason)).toMatch(/maximum session duration/);
    const sus = events.find((e) => e.type === 'suspended');
    expect(String(sus?.data.fellBack)).toMatch(/session ceiling/);
    expect(events.some((e) => e.type === 'failed')).toBe(false);

    // Resume: a new sandbox (a new runner), the workspace back, and a fresh ceiling.
    const back = await srv.mctl(['sessions', 'resume', created.id]);
    expect(back.code, back.stderr).toBe(0);
    const t = await addTask(srv, created.id, 'cat /workspace/keep.txt');
    const done = await taskDone(srv, t.id, 180_000);
    expect(done.state, (await taskLines(srv, t.id)).join('\n')).toBe('succeeded');
    expect(await taskLines(srv, t.id)).toEqual(['keep']);
    const resumed = await sessionIn(srv, created.id, ['idle', 'active']);
    expect(resumed.runnerId).not.toBe(suspended.runnerId);

    // The fresh ceiling comes too, computed by a restarted server from the runner's start in the store.
    await srv.stop(true);
    srv = await srv.restart();
    await sessionIn(srv, created.id, ['suspended'], 120_000);
    const again = (await srv.api<{ items: Ev[] }>('GET', `/v1/sessions/${created.id}/events`)).body.items;
    expect(again.filter((e) => e.type === 'suspended').length).toBe(2);

    expect((await srv.api('POST', `/v1/sessions/${created.id}/cancel`)).status).toBe(200);
    await until(
      async () => target.standin.sandboxes.all.size === 0 && target.standin.sandboxes.snapshots.size === 0,
      'the sandboxes and snapshots to be gone',
      60_000,
    );
  }, 600_000);
});
