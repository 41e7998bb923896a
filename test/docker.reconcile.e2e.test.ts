/**
 * @module The reconciler on a real engine: a server killed with SIGKILL while provisioning leaks
 * nothing once restarted; labelled objects whose owner does not exist are removed at start; a
 * runner whose container died is marked offline and its task lost.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownerLabels } from '../src/providers/docker/provider.js';
import {
  containersOf,
  createSession,
  docker,
  dockerDescribe,
  ensureTestImage,
  expectNothingLeft,
  forceClean,
  getSession,
  getTask,
  installIdOf,
  owned,
  runTask,
  sessionIn,
  startDockerServer,
  taskDone,
} from './docker.support.js';
import { type ServerHandle, until } from './harness.js';

const POOLS = 'd: {provider: docker, mode: managed, max_runners: 4}';

dockerDescribe('docker reconciler', () => {
  beforeAll(async () => {
    await ensureTestImage();
  });

  describe('a server killed with SIGKILL while provisioning', () => {
    let srv: ServerHandle;
    let prefix: string;
    afterAll(async () => {
      await srv?.destroy();
      if (prefix) await forceClean(prefix);
    });

    it('leaks nothing after a restart, and the session still runs', async () => {
      ({ srv, prefix } = await startDockerServer({ pools: POOLS }));
      const s = await createSession(srv, { pool: 'd', prompt: 'echo survived' });
      // The volume is the first object a provision creates; kill the server as soon as it exists.
      const first = await until(async () => (await owned(prefix)).length > 0, 'provisioning to start', 30_000);
      expect(first).toBe(true);
      await srv.stop(true);
      const seen = await docker.listContainers({ all: true, filters: { label: [`${prefix}.managed=true`] } });
      const volumes = (await docker.listVolumes({ filters: { label: [`${prefix}.managed=true`] } })).Volumes ?? [];
      const crashedRunner = volumes[0]?.Labels[`${prefix}.runner`] ?? seen[0]?.Labels[`${prefix}.runner`];
      expect(crashedRunner).toMatch(/^run_/);

      srv = await srv.restart();
      const done = await taskDone(srv, s.tasks![0]!.id);
      expect(done.state).toBe('succeeded');
      // Whatever the crashed provision left is gone or owned by a live runner.
      const live = (await getSession(srv, s.id)).runnerId;
      await until(async () => {
        const containers = await docker.listContainers({ all: true, filters: { label: [`${prefix}.managed=true`] } });
        return containers.every((c) => c.Labels[`${prefix}.runner`] === live);
      }, 'containers of the crashed provision to be removed');
      // The kill landed before the handle was written: that runner was given up and a new one provisioned.
      expect(live).not.toBe(crashedRunner);
      const r = (await srv.api<{ state: string }>('GET', `/v1/runners/${crashedRunner}`)).body;
      expect(r.state).toBe('terminated');
      expect((await srv.api('POST', `/v1/sessions/${s.id}/cancel`)).status).toBe(200);
      await expectNothingLeft(prefix);
    });
  });

  describe('objects whose owner never existed', () => {
    let srv: ServerHandle | undefined;
    let prefix: string;
    afterAll(async () => {
      await srv?.destroy();
      if (prefix) await forceClean(prefix);
    });

    it("are removed when the server starts if they are this install's; another install's are left alone", async () => {
      // Start once to learn the prefix and install id, stop, plant leftovers, start again.
      ({ srv, prefix } = await startDockerServer({ pools: POOLS }));
      await srv.stop();
      const installId = installIdOf(srv.home);
      const gone = { sessionId: 'ses_gone', runnerId: 'run_gone', poolId: 'pool_gone', orgId: 'org_gone' };
      const plant = async (name: string, installLabel: string | null) => {
        const labels = ownerLabels(prefix, { ...gone, installId: installLabel }, 'volume');
        await docker.createVolume({ Name: `marionette-ws-${name}-${prefix}`, Labels: labels });
        const c = await docker.createContainer({
          name: `mtest-${name}-${prefix}`,
          Image: 'marionette/agent:latest',
          Entrypoint: ['sleep', '600'],
          Labels: { ...labels, [`${prefix}.kind`]: 'container' },
          HostConfig: { NetworkMode: 'none' },
        });
        await c.start();
      };
      await plant('mine', installId);
      await plant('other', 'ins_another_install');
      // From before install ids: no install label, and an owner this install never had.
      await plant('legacy', null);
      expect((await owned(prefix)).length).toBe(6);
      srv = await srv.restart();
      await until(
        async () => !(await owned(prefix)).some((o) => o.includes('-mine-')),
        "this install's orphans to be removed",
      );
      expect((await owned(prefix)).sort()).toEqual(
        [
          `container mtest-legacy-${prefix}`,
          `container mtest-other-${prefix}`,
          `volume marionette-ws-legacy-${prefix}`,
          `volume marionette-ws-other-${prefix}`,
        ].sort(),
      );
    });
  });

  describe('a runner whose container died', () => {
    let srv: ServerHandle;
    let prefix: string;
    beforeAll(async () => {
      ({ srv, prefix } = await startDockerServer({ pools: POOLS }));
    });
    afterAll(async () => {
      await srv?.destroy();
      if (prefix) await forceClean(prefix);
    });

    it('is marked offline and its task lost; the session gets a new runner', async () => {
      const s = await createSession(srv, { pool: 'd', prompt: 'true' });
      await taskDone(srv, s.tasks![0]!.id);
      const idle = await sessionIn(srv, s.id, ['idle']);
      const r = await srv.api<{ id: string }>('POST', `/v1/sessions/${s.id}/tasks`, {
        prompt: 'while :; do sleep 0.05; done',
        maxRetries: 0,
      });
      expect(r.status).toBe(201);
      await until(async () => (await getTask(srv, r.body.id)).state === 'running', 'the task to run');
      const [c] = await containersOf(prefix, idle.runnerId!);
      await docker.getContainer(c!.Id).kill();

      const lost = await taskDone(srv, r.body.id, 40_000);
      expect(lost.state).toBe('lost');
      expect(lost.error).toContain(`the sandbox of runner ${idle.runnerId} is terminated`);
      const runner = (await srv.api<{ state: string }>('GET', `/v1/runners/${idle.runnerId}`)).body;
      expect(['offline', 'terminated']).toContain(runner.state);
      // The session is placed again on a fresh runner.
      expect(await runTask(srv, s.id, 'echo again')).toEqual(['again']);
      expect((await getSession(srv, s.id)).runnerId).not.toBe(idle.runnerId);
      expect((await srv.api('POST', `/v1/sessions/${s.id}/cancel`)).status).toBe(200);
      await expectNothingLeft(prefix);
    });
  });
});
