/**
 * What a session asks for reaches its container, on a real engine:
 * - a session's `image` runs instead of the pool's (docs/providers/docker.md promised it; the API
 *   refused the field), and a pool restricts it with `sandbox_config.allowedImages`: a disallowed
 *   image is a 400 naming the pool, and nothing is created;
 * - the profile's resources under the session's own become the container's limits;
 * - a task past its timeout ends `timed_out` and its whole process group is gone.
 * The override image is built here, from the test image, under this run's label prefix.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { execIn, TEST_IMAGE, uid } from '../src/providers/docker/docker.test-support.js';
import { ownerLabels, removeContainer, removeImage } from '../src/providers/docker/provider.js';
import {
  containersOf,
  createSession,
  docker,
  dockerDescribe,
  ensureTestImage,
  forceClean,
  getSession,
  type SessionObj,
  startDockerServer,
  taskDone,
  taskLines,
} from './docker.support.js';
import type { ServerHandle } from './harness.js';
import { expectProblem } from './problems.support.js';

/** A session with the request it was created with. */
type Requested = SessionObj & { request: { image?: string; provider?: string | null; resources?: unknown } };
const requested = (s: SessionObj) => (s as Requested).request;

dockerDescribe('session image, resources and timeout in docker pools', () => {
  let srv: ServerHandle;
  let prefix: string;
  const repo = `marionette/agent-imgtest-${uid()}`;
  const image = `${repo}:override`;

  beforeAll(async () => {
    await ensureTestImage();
    ({ srv, prefix } = await startDockerServer({
      pools: [
        // The default local pool stays: it runs no images, so image requests avoid it.
        'open: {provider: docker, max_runners: 2}',
        `listed: {provider: docker, max_runners: 1, priority: -1, sandbox_config: {allowedImages: ["${repo}:*"]}}`,
        'strict: {provider: docker, max_runners: 1, sandbox_config: {allowedImages: []}}',
        'other: {provider: docker, max_runners: 1, sandbox_config: {allowedImages: ["ghcr.io/acme/*"]}}',
      ].join('\n'),
    }));
    // The override image: the test image plus a marker file, labelled with this run's prefix.
    const builder = await docker.createContainer({
      Image: TEST_IMAGE,
      Entrypoint: ['sh', '-c', 'echo override-image > /etc/marionette-image-marker'],
      Cmd: [],
      User: '0:0',
      Labels: ownerLabels(prefix, { sessionId: null, runnerId: 'image-builder', poolId: '', orgId: '' }, 'image'),
      HostConfig: { NetworkMode: 'none' },
    });
    try {
      await builder.start();
      expect(((await builder.wait()) as { StatusCode: number }).StatusCode).toBe(0);
      await builder.commit({ repo, tag: 'override' });
    } finally {
      await removeContainer(docker, builder.id);
    }
  });
  afterAll(async () => {
    await srv?.destroy();
    await removeImage(docker, image).catch(() => {});
    if (prefix) await forceClean(prefix);
  });

  it("a session's image runs instead of the pool's, with the profile's resources under its own", async () => {
    const prof = await srv.api('POST', '/v1/profiles', { name: 'small', resources: { cpu: '500m', memory: '256Mi' } });
    expect(prof.status, JSON.stringify(prof.body)).toBe(201);
    const created = await createSession(srv, {
      pool: 'open',
      image,
      profile: 'small',
      resources: { memory: '320Mi' },
      prompt: 'cat /etc/marionette-image-marker',
    });
    expect(requested(created)).toMatchObject({ image, resources: { memory: '320Mi' } });
    const done = await taskDone(srv, created.tasks![0]!.id);
    const lines = await taskLines(srv, done.id);
    expect(done.state, `${done.error}\n${lines.join('\n')}`).toBe('succeeded');
    expect(lines).toEqual(['override-image']);
    const s = await getSession(srv, created.id);
    const [c] = await containersOf(prefix, s.runnerId!);
    const info = await docker.getContainer(c!.Id).inspect();
    expect(info.Config.Image).toBe(image);
    expect(info.HostConfig.Memory).toBe(320 * 2 ** 20);
    expect(info.HostConfig.NanoCpus).toBe(500_000_000);
    expect(requested(await getSession(srv, created.id)).image).toBe(image);
    await srv.api('POST', `/v1/sessions/${created.id}/cancel`);
  });

  it('a pool that does not allow the image refuses it with a 400 naming the pool; nothing is created', async () => {
    const before = (await srv.api<{ items: unknown[] }>('GET', '/v1/sessions?limit=1000')).body.items.length;
    expectProblem(
      await srv.api('POST', '/v1/sessions', { agent: 'shell', pool: 'strict', image, prompt: 'true' }),
      400,
      /^image: no pool this session could use lets it run .*pool strict: image .* is refused: this pool allows no image but its own/,
    );
    expectProblem(
      await srv.api('POST', '/v1/sessions', { agent: 'shell', pool: 'other', image, prompt: 'true' }),
      400,
      /pool other: image .* is refused: not in this pool's allowedImages \(ghcr\.io\/acme\/\*\)/,
    );
    expectProblem(
      await srv.api('POST', '/v1/sessions', { agent: 'shell', pool: 'local', image, prompt: 'true' }),
      400,
      /pool local: provider local does not run images/,
    );
    expectProblem(
      await srv.api('POST', '/v1/sessions', { agent: 'shell', image: 'not an image!', prompt: 'true' }),
      400,
      /image/,
    );
    expect((await srv.api<{ items: unknown[] }>('GET', '/v1/sessions?limit=1000')).body.items.length).toBe(before);
  });

  it('without a pool, an image request goes only to the pools that allow it', async () => {
    const created = await createSession(srv, { image, prompt: 'cat /etc/marionette-image-marker' });
    // local, strict and other refuse it: the request is pinned to the docker provider.
    expect(requested(created)).toMatchObject({ image, provider: 'docker' });
    const done = await taskDone(srv, created.tasks![0]!.id);
    expect(done.state, done.error ?? '').toBe('succeeded');
    const s = await getSession(srv, created.id);
    const pool = (await srv.api<{ name: string }>('GET', `/v1/pools/${s.poolId}`)).body.name;
    expect(['open', 'listed']).toContain(pool);
    await srv.api('POST', `/v1/sessions/${created.id}/cancel`);
  });

  it('a task past its timeout ends timed_out and its process group is killed', async () => {
    const created = await createSession(srv, {
      pool: 'open',
      taskTimeoutMs: 2000,
      // A child in the background and one in the foreground: both are in the task's group.
      prompt: 'sleep 300 & sleep 301; echo never',
    });
    const done = await taskDone(srv, created.tasks![0]!.id, 60_000);
    expect(done.state).toBe('timed_out');
    expect(done.error).toMatch(/timed out after 2s/);
    const s: SessionObj = await getSession(srv, created.id);
    const [c] = await containersOf(prefix, s.runnerId!);
    const ps = await execIn(docker, c!.Id, [
      'sh',
      '-c',
      'for p in /proc/[0-9]*; do tr "\\0" " " < $p/cmdline 2>/dev/null; echo; done',
    ]);
    expect(ps.stdout).not.toMatch(/sleep 30[01]/);
    await srv.api('POST', `/v1/sessions/${created.id}/cancel`);
  });
});
