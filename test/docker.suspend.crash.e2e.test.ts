/**
 * @module A real server killed with SIGKILL in the middle of a docker suspend or resume, at an
 * exact step (the test-only `MARIONETTE_FAULT` crash point), then started again on the same home:
 * the interrupted suspend is finished (the session is `suspended`, with the storage its strategy
 * keeps), an interrupted resume is undone (back to `suspended`), resume then works with the
 * workspace kept, and cancel leaves no container, volume or image of the test's label prefix.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest';
import {
  containersOf,
  createSession,
  docker,
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
import { type ServerHandle, startServer } from './harness.js';

// Each case crashes and restarts the server around real containers, twice or more: on a loaded
// 2-core machine one takes 40-60 s, past the suite's 60 s default.
vi.setConfig({ testTimeout: 180_000 });

const POOLS = [
  'p: {provider: docker, mode: managed, max_runners: 4}',
  'snap: {provider: docker, mode: managed, max_runners: 2, suspend_config: {strategy: snapshot, fallback: terminate_preserve_storage}}',
].join('\n');

interface RunnerObj {
  id: string;
  state: string;
  sessionId: string | null;
}

dockerDescribe('a server killed mid-suspend or mid-resume (docker)', () => {
  let home: string;
  let prefix: string;
  let srv: ServerHandle | undefined;
  /** The first server only wrote the config and learnt the label prefix; it keeps the home for removal. */
  let first: ServerHandle | undefined;

  beforeAll(async () => {
    await ensureTestImage();
    ({ srv: first, prefix } = await startDockerServer({ pools: POOLS }));
    home = first.home;
    await first.stop();
  });
  afterEach(async () => {
    await srv?.stop(true);
    srv = undefined;
  });
  afterAll(async () => {
    await srv?.destroy();
    await first?.destroy();
    if (prefix) await forceClean(prefix);
  });

  /** A server on the shared home; `fault` arms a crash point. */
  function start(fault?: string): Promise<ServerHandle> {
    return startServer({
      home,
      env: { MARIONETTE_CONFIG: join(home, 'marionette.yaml'), ...(fault ? { MARIONETTE_FAULT: fault } : {}) },
    });
  }

  /** Sends `method path` to a server armed to die on it, and waits until it died of SIGKILL. */
  async function crashOn(s: ServerHandle, method: string, path: string, body?: unknown): Promise<void> {
    const died = new Promise<string | null>((resolve) => s.proc.once('exit', (_code, signal) => resolve(signal)));
    const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('still running after 60 s'), 60_000));
    const reply = s.api(method, path, body).catch((e: unknown) => e);
    expect(await Promise.race([died, timeout]), 'the server should have died at its crash point').toBe('SIGKILL');
    await reply;
  }

  /** A session on `pool` whose first task ran, so its runner is up and idle. */
  async function idleSession(pool: string): Promise<SessionObj> {
    const s = await createSession(srv!, { pool, prompt: 'true' });
    expect((await taskDone(srv!, s.tasks![0]!.id)).state).toBe('succeeded');
    return sessionIn(srv!, s.id, ['idle']);
  }

  async function runner(id: string): Promise<RunnerObj> {
    return (await srv!.api<RunnerObj>('GET', `/v1/runners/${id}`)).body;
  }

  async function resumeAndCancel(id: string, check: () => Promise<void>): Promise<void> {
    const r = await srv!.api<SessionObj>('POST', `/v1/sessions/${id}/resume`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    await check();
    expect((await srv!.api('POST', `/v1/sessions/${id}/cancel`)).status).toBe(200);
    await expectNothingLeft(prefix);
  }

  /** Restarted after the crash: the session must be suspended with `strategy`, nothing left in flight. */
  async function suspendedAfterRestart(id: string, strategy: string): Promise<SessionObj> {
    srv = await start();
    const s = await sessionIn(srv, id, ['suspended', 'failed', 'cancelled', 'idle', 'active'], 30_000);
    expect(s.state, s.stateReason ?? '').toBe('suspended');
    expect(s.suspend?.strategy).toBe(strategy);
    expect((s.suspend as { op?: unknown } | null)?.op).toBeUndefined();
    return s;
  }

  /** A server on the shared home whose docker provider points at an engine that is not there. */
  function startUnreachable(): Promise<ServerHandle> {
    const config = readFileSync(join(home, 'marionette.yaml'), 'utf8').replace(
      '  docker:\n',
      '  docker:\n    host: unix:///nonexistent/marionette-test-docker.sock\n',
    );
    writeFileSync(join(home, 'unreachable.yaml'), config);
    return startServer({ home, env: { MARIONETTE_CONFIG: join(home, 'unreachable.yaml') } });
  }

  /** Recovery cannot finish while the engine is unreachable; cancel must work anyway, and nothing may leak. */
  async function cancelWhileStuck(id: string, state: string): Promise<void> {
    srv = await startUnreachable();
    const stuck = await getSession(srv, id);
    expect(stuck.state).toBe(state);
    const c = await srv.api<SessionObj>('POST', `/v1/sessions/${id}/cancel`);
    expect(c.status, JSON.stringify(c.body)).toBe(200);
    expect(c.body.state).toBe('cancelled');
    // Killed again at once: the cancel lets go of a resume's new runner just after replying, and
    // whatever it did not get to, the next server does.
    await srv.stop(true);
    // With the engine back, the reconciler removes what the cancelled session left.
    srv = await start();
    expect((await getSession(srv, id)).state).toBe('cancelled');
    await expectNothingLeft(prefix);
  }

  it('cancel works on a session left suspending when the engine is unreachable, and leaves nothing', async () => {
    srv = await start('suspend:terminate_preserve_storage:begun');
    const s = await idleSession('p');
    await runTask(srv, s.id, 'echo x > /workspace/x.txt');
    await crashOn(srv, 'POST', `/v1/sessions/${s.id}/suspend`, { strategy: 'terminate_preserve_storage' });
    await cancelWhileStuck(s.id, 'suspending');
  });

  it('cancel works on a session left resuming when the engine is unreachable, and leaves nothing', async () => {
    srv = await start('resume:snapshot:provisioned');
    const s = await idleSession('snap');
    const sus = await srv.api<SessionObj>('POST', `/v1/sessions/${s.id}/suspend`, {});
    expect(sus.status, JSON.stringify(sus.body)).toBe(200);
    await crashOn(srv, 'POST', `/v1/sessions/${s.id}/resume`);
    expect((await owned(prefix)).map((o) => o.split(' ')[0]).sort()).toEqual(['container', 'image', 'volume']);
    await cancelWhileStuck(s.id, 'resuming');
  });

  it('terminate_preserve_storage, killed after the container was removed: finished, volume kept, resume works', async () => {
    srv = await start('suspend:terminate_preserve_storage:stopped');
    const s = await idleSession('p');
    await runTask(srv, s.id, 'echo kept > /workspace/keep.txt');
    await crashOn(srv, 'POST', `/v1/sessions/${s.id}/suspend`, { strategy: 'terminate_preserve_storage' });
    expect(await containersOf(prefix, s.runnerId!)).toEqual([]);

    const after = await suspendedAfterRestart(s.id, 'terminate_preserve_storage');
    expect(after.runnerId).toBeNull();
    expect((await runner(s.runnerId!)).state).toBe('terminated');
    expect(await owned(prefix)).toEqual([`volume marionette-ws-${s.id}`]);
    await resumeAndCancel(s.id, async () => {
      expect(await runTask(srv!, s.id, 'cat /workspace/keep.txt')).toEqual(['kept']);
    });
  });

  it('terminate_preserve_storage, killed before the container was removed: finished, and cancel leaves nothing', async () => {
    srv = await start('suspend:terminate_preserve_storage:marked');
    const s = await idleSession('p');
    await crashOn(srv, 'POST', `/v1/sessions/${s.id}/suspend`, { strategy: 'terminate_preserve_storage' });
    expect((await containersOf(prefix, s.runnerId!)).length).toBe(1);

    await suspendedAfterRestart(s.id, 'terminate_preserve_storage');
    expect(await containersOf(prefix, s.runnerId!)).toEqual([]);
    expect((await runner(s.runnerId!)).state).toBe('terminated');
    expect((await srv!.api('POST', `/v1/sessions/${s.id}/cancel`)).status).toBe(200);
    await expectNothingLeft(prefix);
  });

  it('pause, killed after the container was frozen: finished, resume thaws it', async () => {
    srv = await start('suspend:pause:frozen');
    const s = await idleSession('p');
    await runTask(srv, s.id, 'echo warm > /workspace/p.txt');
    await crashOn(srv, 'POST', `/v1/sessions/${s.id}/suspend`, { strategy: 'pause' });

    const after = await suspendedAfterRestart(s.id, 'pause');
    expect(after.runnerId).toBe(s.runnerId);
    expect((await runner(s.runnerId!)).state).toBe('paused');
    const [c] = await containersOf(prefix, s.runnerId!);
    expect((await docker.getContainer(c!.Id).inspect()).State.Paused).toBe(true);
    await resumeAndCancel(s.id, async () => {
      expect((await docker.getContainer(c!.Id).inspect()).State.Paused).toBe(false);
      expect(await runTask(srv!, s.id, 'cat /workspace/p.txt')).toEqual(['warm']);
      expect((await getSession(srv!, s.id)).runnerId).toBe(s.runnerId);
    });
  });

  it('snapshot, killed after the commit but before it was recorded: the image is found, resume keeps the tools', async () => {
    srv = await start('suspend:snapshot:snapshotted');
    const s = await idleSession('snap');
    await runTask(
      srv,
      s.id,
      "printf '#!/bin/sh\\necho tool-ok\\n' > /opt/tools/bin/mytool && chmod +x /opt/tools/bin/mytool && echo ws > /workspace/w.txt",
    );
    await crashOn(srv, 'POST', `/v1/sessions/${s.id}/suspend`, {});

    const after = await suspendedAfterRestart(s.id, 'snapshot');
    const meta = (after.suspend?.handle as { metadata?: Record<string, unknown> } | null)?.metadata ?? {};
    expect(meta.snapshotImage).toEqual(expect.stringContaining('marionette-snapshot:'));
    expect(await containersOf(prefix, s.runnerId!)).toEqual([]);
    expect((await owned(prefix)).map((o) => o.split(' ')[0]).sort()).toEqual(['image', 'volume']);
    await resumeAndCancel(s.id, async () => {
      expect(await runTask(srv!, s.id, 'mytool; cat /workspace/w.txt')).toEqual(['tool-ok', 'ws']);
    });
  });

  it('resume of a pause, killed after the container was thawed: frozen again, resume again works', async () => {
    srv = await start('resume:pause:thawed');
    const s = await idleSession('p');
    await runTask(srv, s.id, 'echo thaw > /workspace/t.txt');
    const sus = await srv.api<SessionObj>('POST', `/v1/sessions/${s.id}/suspend`, { strategy: 'pause' });
    expect(sus.status, JSON.stringify(sus.body)).toBe(200);
    const [c] = await containersOf(prefix, s.runnerId!);
    await crashOn(srv, 'POST', `/v1/sessions/${s.id}/resume`);
    expect((await docker.getContainer(c!.Id).inspect()).State.Paused).toBe(false);

    await suspendedAfterRestart(s.id, 'pause');
    expect((await runner(s.runnerId!)).state).toBe('paused');
    expect((await docker.getContainer(c!.Id).inspect()).State.Paused).toBe(true);
    await resumeAndCancel(s.id, async () => {
      expect(await runTask(srv!, s.id, 'cat /workspace/t.txt')).toEqual(['thaw']);
      expect((await getSession(srv!, s.id)).runnerId).toBe(s.runnerId);
    });
  });

  it('terminate, killed after the runner was terminated: finished, nothing kept, resume starts afresh', async () => {
    srv = await start('suspend:terminate:released');
    const s = await idleSession('p');
    await runTask(srv, s.id, 'echo old > /workspace/old.txt');
    await crashOn(srv, 'POST', `/v1/sessions/${s.id}/suspend`, { strategy: 'terminate' });

    await suspendedAfterRestart(s.id, 'terminate');
    await expectNothingLeft(prefix);
    await resumeAndCancel(s.id, async () => {
      expect(await runTask(srv!, s.id, 'ls -A /workspace | wc -l')).toEqual(['0']);
    });
  });

  it('resume of terminate_preserve_storage, killed after the new runner was provisioned: undone, resume again works', async () => {
    srv = await start('resume:terminate_preserve_storage:provisioned');
    const s = await idleSession('p');
    await runTask(srv, s.id, 'echo again > /workspace/a.txt');
    const sus = await srv.api<SessionObj>('POST', `/v1/sessions/${s.id}/suspend`, {
      strategy: 'terminate_preserve_storage',
    });
    expect(sus.status, JSON.stringify(sus.body)).toBe(200);
    await crashOn(srv, 'POST', `/v1/sessions/${s.id}/resume`);

    await suspendedAfterRestart(s.id, 'terminate_preserve_storage');
    // The runner the interrupted resume started is gone, its container with it; the volume stays.
    const runners = (await srv!.api<{ items: RunnerObj[] }>('GET', '/v1/runners?all=1&limit=500')).body.items;
    const mine = runners.filter((r) => r.sessionId === s.id && r.id !== s.runnerId);
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.map((r) => r.state)).toEqual(mine.map(() => 'terminated'));
    expect(await owned(prefix)).toEqual([`volume marionette-ws-${s.id}`]);
    await resumeAndCancel(s.id, async () => {
      expect(await runTask(srv!, s.id, 'cat /workspace/a.txt')).toEqual(['again']);
    });
  });
});
