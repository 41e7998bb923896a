/**
 * @module A suspend says what it really did, on a real engine: `--strategy snapshot` on a docker
 * sandbox with a read-only root filesystem (the default unless the pool's strategy or fallback is
 * snapshot) is refused with the reason instead of reporting `suspended (snapshot)` while keeping
 * nothing beyond the workspace; and when the pool's own strategy is snapshot but the session's
 * sandbox was started read-only, the fallback is used and the session's reason and event say why.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  createSession,
  dockerDescribe,
  ensureTestImage,
  expectNothingLeft,
  forceClean,
  getSession,
  owned,
  runTask,
  type SessionObj,
  sessionIn,
  startDockerServer,
  taskDone,
} from './docker.support.js';
import type { ServerHandle } from './harness.js';

dockerDescribe('docker suspend reports the strategy it used', () => {
  let srv: ServerHandle;
  let prefix: string;
  beforeAll(async () => {
    await ensureTestImage();
    ({ srv, prefix } = await startDockerServer({ pools: 'ro: {provider: docker, mode: managed, max_runners: 2}' }));
  });
  afterAll(async () => {
    await srv?.destroy();
    if (prefix) await forceClean(prefix);
  });

  async function idleSession(): Promise<SessionObj> {
    const s = await createSession(srv, { pool: 'ro', prompt: 'true' });
    expect((await taskDone(srv, s.tasks![0]!.id)).state).toBe('succeeded');
    return sessionIn(srv, s.id, ['idle']);
  }

  it('refuses --strategy snapshot of a read-only root filesystem, saying so', async () => {
    const s = await idleSession();
    const r = await srv.mctl(['sessions', 'suspend', s.id, '--strategy', 'snapshot']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`session ${s.id} cannot be suspended with snapshot`);
    expect(r.stderr).toContain('read-only, so a snapshot would keep nothing beyond the workspace');
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect((await getSession(srv, s.id)).state).toBe('idle');
    expect((await owned(prefix)).filter((o) => o.startsWith('image'))).toEqual([]);
    expect((await srv.api('POST', `/v1/sessions/${s.id}/cancel`)).status).toBe(200);
    await expectNothingLeft(prefix);
  });

  it("the pool's snapshot strategy on a read-only sandbox uses the fallback and says why", async () => {
    const s = await idleSession();
    await runTask(srv, s.id, 'echo kept > /workspace/k.txt');
    // The pool now asks for snapshots; this session's sandbox was started read-only before that.
    const u = await srv.api('PATCH', '/v1/pools/ro', {
      suspendConfig: { strategy: 'snapshot', fallback: 'terminate_preserve_storage' },
    });
    expect(u.status, JSON.stringify(u.body)).toBe(200);
    const r = await srv.api<SessionObj>('POST', `/v1/sessions/${s.id}/suspend`, {});
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.state).toBe('suspended');
    expect(r.body.suspend?.strategy).toBe('terminate_preserve_storage');
    expect(r.body.stateReason).toContain('suspended (terminate_preserve_storage): snapshot not possible');
    expect(r.body.stateReason).toContain('read-only');
    expect(r.body.stateReason).toContain("used the pool's fallback terminate_preserve_storage");
    const events = (
      await srv.api<{ items: { type: string; data: Record<string, unknown> }[] }>('GET', `/v1/sessions/${s.id}/events`)
    ).body.items;
    const suspended = events.find((e) => e.type === 'suspended');
    expect(suspended?.data).toMatchObject({ strategy: 'terminate_preserve_storage', wanted: 'snapshot' });
    expect(String(suspended?.data.fellBack)).toContain('read-only');

    expect((await srv.api('POST', `/v1/sessions/${s.id}/resume`)).status).toBe(200);
    expect(await runTask(srv, s.id, 'cat /workspace/k.txt')).toEqual(['kept']);
    expect((await srv.api('POST', `/v1/sessions/${s.id}/cancel`)).status).toBe(200);
    await expectNothingLeft(prefix);
  });
});
