/**
 * Making room on a real Docker Engine: a docker pool's own strategy is `pause`, which keeps the
 * container and so its slot, so an idle session is suspended with the pool's fallback
 * (`terminate_preserve_storage`) to let a waiting session run; its workspace comes back when it is
 * given a task again. Ends with the leak check.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { uniquePrefix } from '../src/providers/docker/docker.test-support.js';
import {
  addTask,
  createSession,
  dockerDescribe,
  ensureTestImage,
  expectNothingLeft,
  forceClean,
  getSession,
  sessionIn,
  taskDone,
  taskLines,
} from './docker.support.js';
import { type ServerHandle, startServer } from './harness.js';

dockerDescribe('docker: an idle session makes room for a waiting one', () => {
  let srv: ServerHandle;
  const prefix = uniquePrefix();
  beforeAll(async () => {
    await ensureTestImage();
    srv = await startServer({
      config: [
        'sessions:',
        '  preempt_min_idle: 0s',
        'providers:',
        '  docker:',
        `    labelPrefix: ${prefix}`,
        '    network: none',
        'pools:',
        '  one: {provider: docker, mode: managed, max_runners: 1}',
        '',
      ].join('\n'),
    });
  });
  afterAll(async () => {
    await srv?.destroy();
    await forceClean(prefix);
  });

  it('suspends with the fallback (pause frees no slot), runs the waiting session, then brings the files back', async () => {
    const a = await createSession(srv, { pool: 'one', prompt: 'echo kept > /workspace/note; true' });
    expect((await taskDone(srv, a.tasks![0]!.id, 120_000)).state).toBe('succeeded');
    await sessionIn(srv, a.id, ['idle']);
    const b = await createSession(srv, { pool: 'one', prompt: 'echo b' });
    expect((await taskDone(srv, b.tasks![0]!.id, 120_000)).state).toBe('succeeded');
    const suspended = await getSession(srv, a.id);
    expect(suspended.state).toBe('suspended');
    expect(suspended.suspend?.strategy).toBe('terminate_preserve_storage');
    expect(suspended.stateReason).toMatch(/to make room for session ses_\w+ waiting on pool one/);
    // Given a task, the suspended session comes back (b, idle now, gives way) with its workspace.
    const t = await addTask(srv, a.id, 'cat /workspace/note');
    expect((await taskDone(srv, t.id, 120_000)).state).toBe('succeeded');
    expect(await taskLines(srv, t.id)).toContain('kept');
    for (const id of [a.id, b.id]) await srv.api('POST', `/v1/sessions/${id}/cancel`);
    await expectNothingLeft(prefix, 60_000);
  }, 400000);
});
