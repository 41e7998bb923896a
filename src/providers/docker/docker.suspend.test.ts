/** @module Suspend strategies that outlive the container: terminate_preserve_storage and snapshot (`docker commit`). */
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  docker,
  dockerDescribe,
  ensureTestImage,
  execIn,
  expectNoLeaks,
  makeSpec,
  TEST_IMAGE,
  uniquePrefix,
  waitFor,
} from './docker.test-support.js';
import { DockerSandboxProvider } from './provider.js';

const prefix = uniquePrefix();
const provider = new DockerSandboxProvider({ image: TEST_IMAGE, network: 'none', labelPrefix: prefix });
const sleeper = ['sleep', '600'];
const sh = (id: string, cmd: string) => execIn(docker, id, ['sh', '-c', cmd]);

dockerDescribe('docker provider suspend', () => {
  beforeAll(ensureTestImage);
  afterAll(() => expectNoLeaks(prefix));

  it('lists the strategies it honours', () => {
    expect(provider.supportedSuspendStrategies()).toEqual([
      'pause',
      'snapshot',
      'terminate_preserve_storage',
      'terminate',
    ]);
  });

  it('terminate_preserve_storage keeps workspace files for a new container', async () => {
    const spec = makeSpec({ config: { command: sleeper } });
    const h = await provider.provision(spec);
    let restored = h;
    try {
      expect((await sh(h.externalId, 'echo kept > /workspace/notes.txt')).exitCode).toBe(0);
      await provider.stopPreserveStorage(h);
      expect(await provider.status(h)).toBe('terminated');
      expect((await docker.getVolume(h.metadata.volume as string).inspect()).Name).toBe(h.metadata.volume);
      restored = await provider.restore(h, spec);
      expect(restored.externalId).not.toBe(h.externalId);
      expect(restored.metadata.volume).toBe(h.metadata.volume);
      expect((await sh(restored.externalId, 'cat /workspace/notes.txt')).stdout.trim()).toBe('kept');
    } finally {
      await provider.terminate(restored);
    }
    await expect(docker.getVolume(h.metadata.volume as string).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  it('snapshot keeps files installed outside the workspace, and destroyStorage removes volume and image', async () => {
    const install =
      'printf "#!/bin/sh\\necho tool-ok\\n" > /usr/local/bin/mytool && chmod +x /usr/local/bin/mytool && ' +
      'mkdir -p /opt/tools/bin && cp /usr/local/bin/mytool /opt/tools/bin/other && echo ws > /workspace/ws.txt && ' +
      'touch /workspace/.installed; exec sleep 600';
    const base = { suspend_config: { strategy: 'snapshot', fallback: 'terminate' } };
    const spec = makeSpec({ config: { ...base, command: ['sh', '-c', install] } });
    const h = await provider.provision(spec);
    let current = h;
    const images: string[] = [];
    try {
      expect(h.metadata.readOnlyRootfs).toBe(false);
      await waitFor('install', async () =>
        (await sh(h.externalId, 'test -f /workspace/.installed')).exitCode === 0 ? true : undefined,
      );
      const snap = await provider.snapshot(h);
      current = snap;
      const image = snap.metadata.snapshotImage as string;
      images.push(image);
      expect(image).toMatch(/^marionette-snapshot:/);
      expect(await provider.status(snap)).toBe('terminated');
      const img = await docker.getImage(image).inspect();
      expect(img.Config.Labels).toMatchObject({
        [`${prefix}.managed`]: 'true',
        [`${prefix}.kind`]: 'image',
        [`${prefix}.runner`]: spec.runnerId,
        [`${prefix}.session`]: spec.sessionId,
      });
      // resume with a command that installs nothing: the tools must come from the snapshot
      const resumeSpec = { ...spec, config: { ...base, command: sleeper } };
      const restored = await provider.restore(snap, resumeSpec);
      current = restored;
      expect(restored.metadata.image).toBe(image);
      expect(
        (await sh(restored.externalId, 'mytool && other && cat /workspace/ws.txt')).stdout.trim().split('\n'),
      ).toEqual(['tool-ok', 'tool-ok', 'ws']);
      // a second snapshot replaces the first image
      const snap2 = await provider.snapshot(restored);
      current = snap2;
      images.push(snap2.metadata.snapshotImage as string);
      expect(images[1]).not.toBe(images[0]);
      await expect(docker.getImage(images[0] as string).inspect()).rejects.toMatchObject({ statusCode: 404 });
      await provider.destroyStorage(snap2);
      await expect(docker.getImage(images[1] as string).inspect()).rejects.toMatchObject({ statusCode: 404 });
      await expect(docker.getVolume(h.metadata.volume as string).inspect()).rejects.toMatchObject({ statusCode: 404 });
    } finally {
      await provider.terminate(current);
    }
  });

  it('with the default read-only rootfs nothing outside the writable mounts can be installed', async () => {
    const h = await provider.provision(makeSpec({ config: { command: sleeper } }));
    try {
      expect(h.metadata.readOnlyRootfs).toBe(true);
      const r = await sh(h.externalId, 'echo x > /usr/local/bin/mytool');
      expect(r.exitCode).not.toBe(0);
      expect(r.stderr).toMatch(/Read-only file system/);
    } finally {
      await provider.terminate(h);
    }
  });

  it('terminate after a snapshot removes the container, volume and snapshot image', async () => {
    const h = await provider.provision(makeSpec({ config: { command: sleeper } }));
    const snap = await provider.snapshot(h);
    await provider.terminate(snap);
    await expect(docker.getImage(snap.metadata.snapshotImage as string).inspect()).rejects.toMatchObject({
      statusCode: 404,
    });
    await expect(docker.getVolume(h.metadata.volume as string).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });
});
