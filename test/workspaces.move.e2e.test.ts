/**
 * `mctl sessions resume ID --pool NAME`: a session on the `local` pool writes files, is suspended
 * with `terminate_preserve_storage` (its workspace goes to the store first) and is resumed onto
 * the `docker` pool while its own pool is still active; the new container has every file back.
 * The refusals, each before anything changes: an unknown pool, a pool the session's selector
 * does not fit, and a session suspended with `pause` (its workspace is not in the store). Then
 * back with `--provider local` alone (docker -> local), the change made on docker kept.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  createSession,
  dockerDescribe,
  ensureTestImage,
  forceClean,
  getSession,
  runTask,
  sessionIn,
  startDockerServer,
  taskDone,
} from './docker.support.js';
import type { ServerHandle } from './harness.js';

const BUILD = [
  'set -e',
  'mkdir -p src/lib',
  "printf 'hello from local\\n' > src/lib/a.txt",
  "printf '#!/bin/sh\\necho hi\\n' > run.sh && chmod 755 run.sh",
  'ln -s src/lib/a.txt link',
].join('\n');
const LIST = 'cat src/lib/a.txt; stat -c %a run.sh; readlink link';

const providerOf = (s: object) => (s as { sandboxProvider?: string | null }).sandboxProvider;

dockerDescribe('resume on another pool through the workspace store', () => {
  let srv: ServerHandle;
  let prefix: string;
  beforeAll(async () => {
    await ensureTestImage();
    ({ srv, prefix } = await startDockerServer({
      pools: [
        'local: {provider: local, mode: managed, priority: 20, max_runners: 2, labels: {zone: a}}',
        'dock: {provider: docker, mode: managed, priority: 10, max_runners: 2, labels: {zone: a}}',
        'far: {provider: local, mode: managed, priority: 5, max_runners: 1, labels: {zone: b}}',
      ].join('\n'),
    }));
  });
  afterAll(async () => {
    await srv?.destroy();
    if (prefix) await forceClean(prefix);
  });

  it('local -> docker with --pool: the file written on local is there; bad targets are refused', {
    timeout: 240_000,
  }, async () => {
    const s = await createSession(srv, { prompt: BUILD, selector: 'zone=a' });
    expect((await taskDone(srv, s.tasks![0]!.id)).state).toBe('succeeded');
    expect(providerOf(await sessionIn(srv, s.id, ['idle']))).toBe('local');

    // Not suspended yet: a move is a resume, refused like one.
    const early = await srv.mctl(['sessions', 'resume', s.id, '--pool', 'dock']);
    expect(early.code).not.toBe(0);
    expect(early.stderr).toMatch(/only a suspended session can be resumed/);

    const sus = await srv.mctl(['sessions', 'suspend', s.id, '--strategy', 'terminate_preserve_storage']);
    expect(sus.code, sus.stderr).toBe(0);
    await sessionIn(srv, s.id, ['suspended']);

    // Refusals: each leaves the session suspended, its request untouched.
    const unknown = await srv.api('POST', `/v1/sessions/${s.id}/resume`, { pool: 'nowhere' });
    expect(unknown.status).toBe(400);
    expect(JSON.stringify(unknown.body)).toMatch(/no pool named \\"nowhere\\"/);
    const unfit = await srv.mctl(['sessions', 'resume', s.id, '--pool', 'far']);
    expect(unfit.code).not.toBe(0);
    expect(unfit.stderr).toMatch(/cannot resume on pool far/);
    const wrongProvider = await srv.api('POST', `/v1/sessions/${s.id}/resume`, { pool: 'dock', provider: 'local' });
    expect(wrongProvider.status).toBe(400);
    expect(JSON.stringify(wrongProvider.body)).toMatch(/pool dock is on provider docker/);
    const badProvider = await srv.api('POST', `/v1/sessions/${s.id}/resume`, { provider: 'nope' });
    expect(badProvider.status).toBe(400);
    const extra = await srv.api('POST', `/v1/sessions/${s.id}/resume`, { pol: 'dock' });
    expect(extra.status).toBe(400);
    const still = await getSession(srv, s.id);
    expect(still.state).toBe('suspended');
    expect((still as { request?: { pool?: string | null } }).request?.pool ?? null).toBeNull();

    const res = await srv.mctl(['sessions', 'resume', s.id, '--pool', 'dock']);
    expect(res.code, res.stderr).toBe(0);
    const lines = await runTask(srv, s.id, LIST);
    expect(lines).toEqual(['hello from local', '755', 'src/lib/a.txt']);
    const moved = await sessionIn(srv, s.id, ['idle', 'active']);
    expect(providerOf(moved)).toBe('docker');
    expect((moved as { request?: { pool?: string | null } }).request?.pool).toBe('dock');
    const events = await srv.api<{ items: { type: string; data: { how?: string } }[] }>(
      'GET',
      `/v1/sessions/${s.id}/events`,
    );
    const resumed = events.body.items.find((e) => e.type === 'resumed');
    expect(resumed?.data.how).toMatch(/moved to pool dock/);

    // A pause keeps the workspace in the frozen sandbox, not in the store: it cannot move.
    const sus2 = await srv.mctl(['sessions', 'suspend', s.id, '--strategy', 'pause']);
    expect(sus2.code, sus2.stderr).toBe(0);
    await sessionIn(srv, s.id, ['suspended']);
    const paused = await srv.mctl(['sessions', 'resume', s.id, '--pool', 'local']);
    expect(paused.code).not.toBe(0);
    expect(paused.stderr).toMatch(/suspended with pause and its workspace is not in the workspace store/);
    const back = await srv.mctl(['sessions', 'resume', s.id]);
    expect(back.code, back.stderr).toBe(0);
    expect(providerOf(await sessionIn(srv, s.id, ['idle', 'active']))).toBe('docker');

    // And back with --provider alone: docker -> local, the pool the scheduler picks among local's.
    await runTask(srv, s.id, "printf 'changed on docker\\n' > src/lib/a.txt");
    await sessionIn(srv, s.id, ['idle']);
    const sus3 = await srv.mctl(['sessions', 'suspend', s.id, '--strategy', 'terminate_preserve_storage']);
    expect(sus3.code, sus3.stderr).toBe(0);
    await sessionIn(srv, s.id, ['suspended']);
    const home = await srv.mctl(['sessions', 'resume', s.id, '--provider', 'local']);
    expect(home.code, home.stderr).toBe(0);
    expect(await runTask(srv, s.id, LIST)).toEqual(['changed on docker', '755', 'src/lib/a.txt']);
    const onLocal = await sessionIn(srv, s.id, ['idle', 'active']);
    expect(providerOf(onLocal)).toBe('local');
    expect((onLocal as { placement?: { chosenPoolId?: string } }).placement?.chosenPoolId).toBeTruthy();
    expect((await srv.mctl(['sessions', 'cancel', s.id])).code).toBe(0);
  });
});
