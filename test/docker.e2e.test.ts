/**
 * @module Docker pools end to end on a real engine: a shell session runs in a hardened container
 * (checked with docker inspect), per-task lifecycle gets a fresh container per task, a cost event
 * is written when a runner stops, an unreachable engine and a missing image give clear errors,
 * and `marionette images build` builds an image from this machine's files.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeImage } from '../src/providers/docker/provider.js';
import {
  containersOf,
  costEvents,
  createSession,
  docker,
  dockerDescribe,
  ensureTestImage,
  expectNothingLeft,
  forceClean,
  getSession,
  runTask,
  type SessionObj,
  sessionIn,
  startDockerServer,
  taskDone,
  taskLines,
} from './docker.support.js';
import { BIN, run, type ServerHandle, startServer, until } from './harness.js';

dockerDescribe('docker pools end to end', () => {
  beforeAll(async () => {
    await ensureTestImage();
  });

  describe('a per-session pool', () => {
    let srv: ServerHandle;
    let prefix: string;
    beforeAll(async () => {
      ({ srv, prefix } = await startDockerServer({
        docker: "resources: {memory: '256m', cpus: '0.5'}",
        pools: 'd: {provider: docker, mode: managed, max_runners: 4}',
      }));
    });
    afterAll(async () => {
      await srv?.destroy();
      if (prefix) await forceClean(prefix);
    });

    it('runs a shell session in a hardened container and cleans up when it ends', async () => {
      const created = await createSession(srv, {
        pool: 'd',
        prompt:
          'id -u; echo made > /workspace/made.txt; cat /workspace/made.txt; touch /etc/nope 2>/dev/null && echo rootfs-writable || echo rootfs-readonly',
      });
      const first = created.tasks![0]!;
      const done = await taskDone(srv, first.id);
      const lines = await taskLines(srv, first.id);
      expect(done.state, lines.join('\n')).toBe('succeeded');
      expect(lines).toEqual(['1000', 'made', 'rootfs-readonly']);

      const s = await getSession(srv, created.id);
      const [c] = await containersOf(prefix, s.runnerId!);
      expect(c, 'the runner container').toBeDefined();
      const info = await docker.getContainer(c!.Id).inspect();
      expect(info.Config.User).toBe('1000:1000');
      expect(info.HostConfig.CapDrop).toEqual(['ALL']);
      expect(info.HostConfig.SecurityOpt).toContain('no-new-privileges');
      expect(info.HostConfig.PidsLimit).toBeGreaterThan(0);
      expect(info.HostConfig.Memory).toBe(256 * 1024 * 1024);
      expect(info.HostConfig.NanoCpus).toBe(500_000_000);
      expect(info.HostConfig.ReadonlyRootfs).toBe(true);
      expect(Object.keys(info.HostConfig.Tmpfs ?? {})).toContain('/tmp');
      expect(info.HostConfig.NetworkMode).toBe('none');
      const ws = info.Mounts.find((m) => m.Destination === '/workspace');
      expect(ws?.Type).toBe('volume');
      expect(ws?.Name).toBe(`marionette-ws-${created.id}`);
      const labels = info.Config.Labels;
      expect(labels[`${prefix}.session`]).toBe(created.id);
      expect(labels[`${prefix}.runner`]).toBe(s.runnerId);
      expect(labels[`${prefix}.pool`]).toBe(s.poolId);
      const vol = await docker.getVolume(ws!.Name!).inspect();
      expect(vol.Labels[`${prefix}.session`]).toBe(created.id);
      expect(vol.Labels[`${prefix}.pool`]).toBe(s.poolId);

      const cancelled = await srv.api<SessionObj>('POST', `/v1/sessions/${created.id}/cancel`);
      expect(cancelled.status).toBe(200);
      await expectNothingLeft(prefix);
      const cost = costEvents(srv.home).find((e) => e.runner_id === s.runnerId);
      expect(cost?.billing_model).toBe('fixed');
      expect(cost?.seconds).toBeGreaterThan(0);
    });

    it('an image that is not there fails the session naming the image and the build command', async () => {
      const r = await srv.api<{ detail: string }>('POST', '/v1/pools', {
        name: 'noimage',
        provider: 'docker',
        mode: 'managed',
        maxRunners: 1,
        sandboxConfig: { image: 'marionette/absent-image:nope' },
      });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      const created = await createSession(srv, { pool: 'noimage', prompt: 'true' });
      const failed = await sessionIn(srv, created.id, ['failed']);
      expect(failed.stateReason).toContain('marionette/absent-image:nope');
      expect(failed.stateReason).toContain('marionette images build');
      await expectNothingLeft(prefix);
    });
  });

  describe('a per-task pool', () => {
    let srv: ServerHandle;
    let prefix: string;
    beforeAll(async () => {
      ({ srv, prefix } = await startDockerServer({
        pools: 'pt: {provider: docker, mode: managed, max_runners: 2, lifecycle: per-task}',
      }));
    });
    afterAll(async () => {
      await srv?.destroy();
      if (prefix) await forceClean(prefix);
    });

    it('gives every task a fresh container', async () => {
      const created = await createSession(srv, { pool: 'pt', prompt: 'hostname' });
      const first = await taskDone(srv, created.tasks![0]!.id);
      expect(first.state).toBe('succeeded');
      const [host1] = await taskLines(srv, first.id);
      const second = await runTask(srv, created.id, 'hostname');
      expect(second[0]).toMatch(/^[0-9a-f]{12}$/);
      expect(second[0]).not.toBe(host1);
      const t2 = (await getSession(srv, created.id)).tasks!.find((t) => t.id !== first.id)!;
      expect(t2.runnerId).not.toBe(first.runnerId);
      await srv.api('POST', `/v1/sessions/${created.id}/cancel`);
      await expectNothingLeft(prefix);
      // A per-task runner is terminated after its task is reported finished, so its cost event can
      // land a moment after its container is gone.
      const costs = await until(async () => {
        const ids = costEvents(srv.home).map((e) => e.runner_id);
        return ids.includes(first.runnerId!) && ids.includes(t2.runnerId!) ? ids : null;
      }, 'a cost event for each per-task runner');
      expect(costs).toEqual(expect.arrayContaining([first.runnerId, t2.runnerId]));
    });
  });

  it('an unreachable engine shows provider_unavailable with the socket path it tried', async () => {
    const srv = await startServer({
      config: [
        'providers:',
        '  docker: {host: "unix:///tmp/marionette-no-such-engine.sock"}',
        'pools:',
        '  d: {provider: docker, mode: managed}',
        '',
      ].join('\n'),
    });
    try {
      const pool = await srv.api<{ health: string; warnings: string[] }>('GET', '/v1/pools/d');
      expect(pool.body.health).toBe('unavailable');
      expect(pool.body.warnings.join(' ')).toContain('provider_unavailable');
      expect(pool.body.warnings.join(' ')).toContain('/tmp/marionette-no-such-engine.sock');
      const r = await srv.api<{ detail: string }>('POST', '/v1/sessions', {
        agent: 'shell',
        pool: 'd',
        prompt: 'true',
        waitForCapacity: false,
      });
      expect(r.status).toBe(422);
      expect(r.body.detail).toContain('/tmp/marionette-no-such-engine.sock');
    } finally {
      await srv.destroy();
    }
  });

  it('`marionette images build` builds the agent image from files on this machine', async () => {
    const tag = `marionette/agent-test:${Date.now().toString(36)}`;
    try {
      const r = await run(BIN.marionette, ['images', 'build', '--tag', tag], {}, 180_000);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`built ${tag}`);
      const info = await docker.getImage(tag).inspect();
      expect(info.Config.User).toBe('1000:1000');
      const again = await run(BIN.marionette, ['images', 'build', '--tag', tag, '--if-missing']);
      expect(again.stdout).toContain('already exists');
    } finally {
      await removeImage(docker, tag);
    }
    await until(async () => !(await docker.listImages({ filters: { reference: [tag] } })).length, 'image removed');
  }, 240_000);
});
