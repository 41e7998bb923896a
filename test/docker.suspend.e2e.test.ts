/**
 * @module Suspend and resume of docker sessions with each strategy, on a real engine: pause keeps
 * a running task's memory, terminate_preserve_storage keeps the workspace, snapshot keeps files
 * outside it, terminate keeps nothing; plus a strategy the pool cannot honour refused, min_duration, a running task
 * refusing non-pause strategies, and a pause escalated after max_duration.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  addTask,
  containersOf,
  createSession,
  docker,
  dockerDescribe,
  ensureTestImage,
  expectNothingLeft,
  forceClean,
  getSession,
  getTask,
  owned,
  runTask,
  type SessionObj,
  sessionIn,
  startDockerServer,
  taskDone,
  taskLines,
} from './docker.support.js';
import { json, type ServerHandle, until } from './harness.js';

dockerDescribe('docker suspend and resume', () => {
  let srv: ServerHandle;
  let prefix: string;
  beforeAll(async () => {
    await ensureTestImage();
    ({ srv, prefix } = await startDockerServer({
      pools: [
        'p: {provider: docker, mode: managed, max_runners: 8}',
        'snap: {provider: docker, mode: managed, max_runners: 2, suspend_config: {strategy: snapshot, fallback: terminate_preserve_storage}}',
        'slow: {provider: docker, mode: managed, max_runners: 2, suspend_config: {strategy: pause, fallback: terminate, min_duration: 1h}}',
        'esc: {provider: docker, mode: managed, max_runners: 2, suspend_config: {strategy: pause, fallback: terminate_preserve_storage, max_duration: 1s}}',
      ].join('\n'),
    }));
  });
  afterAll(async () => {
    await srv?.destroy();
    if (prefix) await forceClean(prefix);
  });

  /** A session on `pool` whose first task ran, so its runner is up and idle. */
  async function idleSession(pool: string): Promise<SessionObj> {
    const s = await createSession(srv, { pool, prompt: 'true' });
    expect((await taskDone(srv, s.tasks![0]!.id)).state).toBe('succeeded');
    return sessionIn(srv, s.id, ['idle']);
  }

  async function suspend(id: string, strategy?: string): Promise<SessionObj> {
    const r = await srv.api<SessionObj>('POST', `/v1/sessions/${id}/suspend`, strategy ? { strategy } : {});
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body;
  }

  async function resume(id: string): Promise<SessionObj> {
    const r = await srv.api<SessionObj>('POST', `/v1/sessions/${id}/resume`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body;
  }

  async function end(id: string): Promise<void> {
    expect((await srv.api('POST', `/v1/sessions/${id}/cancel`)).status).toBe(200);
    await expectNothingLeft(prefix);
  }

  it('pause freezes a running task and its in-memory counter carries on after resume', async () => {
    const s = await idleSession('p');
    const task = await addTask(
      srv,
      s.id,
      'i=0; while [ ! -f /workspace/stop ]; do i=$((i+1)); echo "$i"; sleep 0.05; done; echo "final $i"',
    );
    await until(async () => (await taskLines(srv, task.id)).length >= 3, 'the counter to start');
    const paused = await suspend(s.id, 'pause');
    expect(paused.state).toBe('suspended');
    expect(paused.suspend?.strategy).toBe('pause');
    const runner = (await srv.api<{ state: string }>('GET', `/v1/runners/${s.runnerId}`)).body;
    expect(runner.state).toBe('paused');
    const [c] = await containersOf(prefix, s.runnerId!);
    expect((await docker.getContainer(c!.Id).inspect()).State.Paused).toBe(true);
    const atPause = (await taskLines(srv, task.id)).length;
    expect((await getTask(srv, task.id)).state).toBe('running');

    const resumed = await resume(s.id);
    expect(resumed.state).toBe('active');
    expect((await docker.getContainer(c!.Id).inspect()).State.Paused).toBe(false);
    // Let it count past where it was frozen, then stop it from outside.
    await until(async () => (await taskLines(srv, task.id)).length > atPause + 3, 'the counter to carry on');
    const exec = await docker
      .getContainer(c!.Id)
      .exec({ Cmd: ['touch', '/workspace/stop'], User: '1000:1000', AttachStdout: true, AttachStderr: true });
    await exec.start({ hijack: true, stdin: false });
    const done = await taskDone(srv, task.id);
    expect(done.state).toBe('succeeded');
    const lines = await taskLines(srv, task.id);
    const counts = lines.slice(0, -1).map(Number);
    // One process, one counter: 1, 2, 3, ... with no restart and no gap across the pause.
    expect(counts).toEqual(counts.map((_, i) => i + 1));
    expect(counts.length).toBeGreaterThan(atPause);
    expect(lines.at(-1)).toBe(`final ${counts.length}`);
    expect((await getSession(srv, s.id)).tasks!.length).toBe(2);
    await end(s.id);
  });

  it('terminate_preserve_storage removes the container, keeps the volume, and resumes on it (mctl)', async () => {
    const s = await idleSession('p');
    await runTask(srv, s.id, 'echo kept > /workspace/keep.txt');
    const r = await srv.mctl(['-o', 'json', 'sessions', 'suspend', s.id, '--strategy', 'terminate_preserve_storage']);
    expect(r.code, r.stderr).toBe(0);
    expect(json<SessionObj>(r).suspend?.strategy).toBe('terminate_preserve_storage');
    expect(await containersOf(prefix, s.runnerId!)).toEqual([]);
    expect(await owned(prefix)).toEqual([`volume marionette-ws-${s.id}`]);

    const back = await srv.mctl(['sessions', 'resume', s.id]);
    expect(back.code, back.stderr).toBe(0);
    expect(await runTask(srv, s.id, 'cat /workspace/keep.txt')).toEqual(['kept']);
    const after = await getSession(srv, s.id);
    expect(after.runnerId).not.toBe(s.runnerId);
    await end(s.id);
  });

  it('snapshot commits the container so files installed outside the workspace survive', async () => {
    const s = await idleSession('snap');
    await runTask(
      srv,
      s.id,
      "printf '#!/bin/sh\\necho tool-ok\\n' > /opt/tools/bin/mytool && chmod +x /opt/tools/bin/mytool && echo ws > /workspace/w.txt && mytool",
    );
    const suspended = await suspend(s.id);
    expect(suspended.suspend?.strategy).toBe('snapshot');
    expect(await containersOf(prefix, s.runnerId!)).toEqual([]);
    const kinds = (await owned(prefix)).map((o) => o.split(' ')[0]).sort();
    expect(kinds).toEqual(['image', 'volume']);

    await resume(s.id);
    expect(await runTask(srv, s.id, 'mytool; cat /workspace/w.txt')).toEqual(['tool-ok', 'ws']);
    await end(s.id);
  });

  it('terminate removes everything and resume starts afresh', async () => {
    const s = await idleSession('p');
    await runTask(srv, s.id, 'echo old > /workspace/old.txt');
    const suspended = await suspend(s.id, 'terminate');
    expect(suspended.suspend?.strategy).toBe('terminate');
    await expectNothingLeft(prefix);
    await resume(s.id);
    expect(await runTask(srv, s.id, 'ls -A /workspace | wc -l')).toEqual(['0']);
    await end(s.id);
  });

  it('a strategy asked for that the pool cannot honour is refused, not swapped for another', async () => {
    const s = await idleSession('p');
    const r = await srv.api<{ detail: string; hint: string }>('POST', `/v1/sessions/${s.id}/suspend`, {
      strategy: 'release_to_pool',
    });
    expect(r.status).toBe(409);
    expect(r.body.detail).toContain('cannot be suspended with release_to_pool: pool p is managed');
    expect(r.body.hint).toContain('--strategy pause|terminate_preserve_storage|terminate');
    expect((await getSession(srv, s.id)).state).toBe('idle');
    await end(s.id);
  });

  it('a running task refuses strategies that would kill it, naming the task', async () => {
    const s = await idleSession('p');
    const task = await addTask(srv, s.id, 'while [ ! -f /workspace/stop ]; do sleep 0.05; done');
    await until(async () => (await getTask(srv, task.id)).state === 'running', 'the task to run');
    const r = await srv.api<{ detail: string; hint: string }>('POST', `/v1/sessions/${s.id}/suspend`, {
      strategy: 'terminate_preserve_storage',
    });
    expect(r.status).toBe(409);
    expect(r.body.detail).toContain(task.id);
    expect(r.body.hint).toContain(`mctl tasks cancel ${task.id}`);
    expect((await getSession(srv, s.id)).state).toBe('active');
    await end(s.id);
  });

  it('min_duration: a sandbox younger than it cannot be suspended', async () => {
    const s = await idleSession('slow');
    const r = await srv.api<{ detail: string; hint: string }>('POST', `/v1/sessions/${s.id}/suspend`, {});
    expect(r.status).toBe(409);
    expect(r.body.detail).toContain('min_duration 1h');
    expect((await getSession(srv, s.id)).state).toBe('idle');
    await end(s.id);
  });

  it('a pause older than max_duration is escalated to the fallback, keeping the workspace', async () => {
    const s = await idleSession('esc');
    await runTask(srv, s.id, 'echo esc > /workspace/e.txt');
    expect((await suspend(s.id)).suspend?.strategy).toBe('pause');
    const escalated = await until(async () => {
      const x = await getSession(srv, s.id);
      return x.suspend?.escalatedFrom === 'pause' ? x : null;
    }, 'the pause to be escalated');
    expect(escalated.state).toBe('suspended');
    expect(escalated.suspend?.strategy).toBe('terminate_preserve_storage');
    expect(await containersOf(prefix, s.runnerId!)).toEqual([]);
    await resume(s.id);
    expect(await runTask(srv, s.id, 'cat /workspace/e.txt')).toEqual(['esc']);
    await end(s.id);
  });
});
