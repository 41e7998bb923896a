/**
 * @module Working with a docker session's workspace and kits on a real engine: a kit (made through
 * the API) installs in the container before the task and its env reaches it; `mctl sessions exec`
 * runs inside the session's container (its user, its /workspace) and exits with the command's code.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  createSession,
  dockerDescribe,
  ensureTestImage,
  forceClean,
  sessionIn,
  startDockerServer,
  taskDone,
  taskLines,
} from './docker.support.js';
import type { ServerHandle } from './harness.js';

dockerDescribe('docker session workspace and kits', () => {
  let srv: ServerHandle;
  let prefix: string;
  beforeAll(async () => {
    await ensureTestImage();
    ({ srv, prefix } = await startDockerServer({ pools: 'd: {provider: docker, mode: managed, max_runners: 2}' }));
  });
  afterAll(async () => {
    await srv?.destroy();
    if (prefix) await forceClean(prefix);
  });

  it('a kit installs in the container; exec runs there and exits with its code', async () => {
    const kit = await srv.api('POST', '/v1/kits', {
      id: 'dtool',
      version: '1',
      installCommands: ['mkdir -p /tmp/dtool && echo installed > /tmp/dtool/mark'],
      postAcquire: ['echo acquired > acquired.txt'],
      env: { DTOOL: '/tmp/dtool' },
    });
    expect(kit.status, JSON.stringify(kit.body)).toBe(201);
    const s = await createSession(srv, {
      pool: 'd',
      kits: ['dtool@1'],
      prompt: 'cat "$DTOOL/mark"; cat acquired.txt; pwd',
    });
    const t = s.tasks![0]!;
    const done = await taskDone(srv, t.id, 120_000);
    const lines = await taskLines(srv, t.id);
    expect(done.state, `${done.error}\n${lines.join('\n')}`).toBe('succeeded');
    expect(lines).toEqual(['installed', 'acquired', '/workspace']);
    await sessionIn(srv, s.id, ['idle']);

    const ex = await srv.mctl(['sessions', 'exec', s.id, '--', 'bash', '-c', 'id -u; pwd; cat acquired.txt; exit 5']);
    expect(ex.code, ex.stderr).toBe(5);
    expect(ex.stdout).toBe('1000\n/workspace\nacquired\n');
    const diff = await srv.mctl(['sessions', 'diff', s.id]);
    expect(diff.code).not.toBe(0);
    expect(diff.stderr).toContain('no base commit');
    await srv.mctl(['sessions', 'cancel', s.id]);
  });
});
