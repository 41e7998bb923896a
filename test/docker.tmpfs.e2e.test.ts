/**
 * @module A task filling `/tmp` in a docker sandbox with a memory limit gets ENOSPC and fails on
 * its own; the agent survives and the session keeps its runner. (Before: `/tmp` was a 256 MiB
 * tmpfs inside a 256 MiB limit, so filling it OOM-killed the agent and the task was lost.) Tasks
 * run with the highest OOM score, so the kernel kills a task process before the agent.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  createSession,
  dockerDescribe,
  ensureTestImage,
  expectNothingLeft,
  forceClean,
  getSession,
  runTask,
  sessionIn,
  startDockerServer,
  taskDone,
  taskLines,
} from './docker.support.js';
import type { ServerHandle } from './harness.js';

const POOLS = 'd: {provider: docker, mode: managed, max_runners: 1}';

dockerDescribe('a docker task filling /tmp', () => {
  let srv: ServerHandle;
  let prefix: string;
  beforeAll(async () => {
    await ensureTestImage();
    ({ srv, prefix } = await startDockerServer({ pools: POOLS, docker: 'resources: {memory: 256m}' }));
  });
  afterAll(async () => {
    await srv?.destroy();
    if (prefix) await forceClean(prefix);
  });

  it('gets ENOSPC; the agent survives and the session keeps its runner', async () => {
    // After a moment: the score is raised right after spawn, so what the task starts later inherits
    // it (a process it runs at once may still read the agent's score: the window in src/agent/oom.ts).
    const s = await createSession(srv, { pool: 'd', prompt: 'sleep 1; cat /proc/self/oom_score_adj' });
    const first = await taskDone(srv, s.tasks![0]!.id);
    expect(first.state).toBe('succeeded');
    // The task (and what it starts) is the OOM killer's first choice.
    expect(await taskLines(srv, first.id)).toEqual(['1000']);
    const { runnerId } = await sessionIn(srv, s.id, ['idle']);
    // More than the whole memory limit into /tmp.
    const out = await runTask(
      srv,
      s.id,
      'head -c 400M /dev/zero 2>/workspace/fill.err > /tmp/fill; echo "exit $?"; grep -o "No space left on device" /workspace/fill.err; rm -f /tmp/fill',
    );
    expect(out).toEqual(['exit 1', 'No space left on device']);
    expect(await runTask(srv, s.id, 'echo alive')).toEqual(['alive']);
    expect((await getSession(srv, s.id)).runnerId).toBe(runnerId);
    const events = await srv.api<{ items: { type: string }[] }>('GET', `/v1/sessions/${s.id}/events`);
    expect(events.body.items.map((e) => e.type)).not.toContain('runner_lost');
    expect((await srv.api('POST', `/v1/sessions/${s.id}/cancel`)).status).toBe(200);
    await expectNothingLeft(prefix);
  });
});
