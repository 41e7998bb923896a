/** @module Docker provider basics against a real engine: provision, status, terminate, missing image, health. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ProviderUnavailable } from '../../core/errors.js';
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
const provider = new DockerSandboxProvider({
  image: TEST_IMAGE,
  network: 'none',
  labelPrefix: prefix,
  command: ['sh', '-c', 'echo "$MARIONETTE_RUNNER_ID $MARIONETTE_WORKSPACE" > /workspace/hello; exec sleep 600'],
});

dockerDescribe('docker provider lifecycle', () => {
  beforeAll(ensureTestImage);
  afterAll(() => expectNoLeaks(prefix));

  it('reports the engine healthy', async () => {
    expect(await provider.health()).toEqual({ ok: true });
  });

  it('provisions a running container with the agent env and a workspace volume, and terminate removes both', async () => {
    const spec = makeSpec({ env: { EXTRA: 'yes' } });
    const h = await provider.provision(spec);
    try {
      expect(h.providerId).toBe('docker');
      expect(h.metadata).toMatchObject({
        orgId: spec.orgId,
        volume: `marionette-ws-${spec.sessionId}`,
        containerName: `marionette-${spec.runnerId}`,
        image: TEST_IMAGE,
      });
      expect(typeof h.metadata.provisionedAt).toBe('string');
      expect(await provider.status(h)).toBe('running');
      const hello = await waitFor('hello file', async () => {
        const r = await execIn(docker, h.externalId, ['cat', '/workspace/hello']);
        return r.exitCode === 0 ? r.stdout : undefined;
      });
      expect(hello.trim()).toBe(`${spec.runnerId} /workspace`);
      const env = await execIn(docker, h.externalId, ['env']);
      expect(env.stdout).toContain(`MARIONETTE_REGISTRATION_TOKEN=${spec.registrationToken}`);
      expect(env.stdout).toContain('EXTRA=yes');
      const inspect = await docker.getContainer(h.externalId).inspect();
      expect(inspect.Mounts.map((m) => m.Destination).sort()).toEqual(
        ['/opt/marionette', '/opt/marionette-node/bin/node', '/workspace'].sort(),
      );
    } finally {
      await provider.terminate(h);
    }
    expect(await provider.status(h)).toBe('terminated');
    await expect(docker.getVolume(h.metadata.volume as string).inspect()).rejects.toMatchObject({ statusCode: 404 });
    // idempotent
    await provider.terminate(h);
  });

  it('uses one volume per runner when the sandbox has no session', async () => {
    const spec = makeSpec({ sessionId: null });
    const h = await provider.provision(spec);
    try {
      expect(h.metadata.volume).toBe(`marionette-ws-${spec.runnerId}`);
      const vol = await docker.getVolume(h.metadata.volume as string).inspect();
      expect(vol.Labels[`${prefix}.session`]).toBe('');
      expect(vol.Labels[`${prefix}.runner`]).toBe(spec.runnerId);
    } finally {
      await provider.terminate(h);
    }
  });

  it('mounts only the workspace when mountAgent is false (image with a baked-in agent)', async () => {
    const h = await provider.provision(makeSpec({ config: { mountAgent: false } }));
    try {
      const inspect = await docker.getContainer(h.externalId).inspect();
      expect(inspect.Mounts.map((m) => m.Destination)).toEqual(['/workspace']);
    } finally {
      await provider.terminate(h);
    }
  });

  it('maps an exited container to terminated', async () => {
    const h = await provider.provision(makeSpec({ config: { command: ['true'] } }));
    try {
      await docker.getContainer(h.externalId).wait();
      expect(await provider.status(h)).toBe('terminated');
    } finally {
      await provider.terminate(h);
    }
  });

  it('names the missing image and the command that builds it', async () => {
    const image = `marionette/does-not-exist:${Date.now()}`;
    const err = await provider.provision(makeSpec({ image })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderUnavailable);
    expect((err as Error).message).toContain(image);
    expect((err as Error).message).toContain('marionette images build');
    expect((err as Error).message).toContain(`--tag ${image}`);
  });

  it('refuses a loopback gateway on a network that cannot reach it', async () => {
    const agentProvider = new DockerSandboxProvider({ image: TEST_IMAGE, network: 'none', labelPrefix: prefix });
    await expect(
      agentProvider.provision(makeSpec({ env: { MARIONETTE_GATEWAY: 'ws://127.0.0.1:9090' } })),
    ).rejects.toThrow(/cannot reach the loopback gateway/);
  });
});

it('health names the socket path when the engine is unreachable', async () => {
  const path = `/tmp/marionette-no-such-docker-${Date.now()}.sock`;
  const p = new DockerSandboxProvider({ host: `unix://${path}` });
  const h = await p.health();
  expect(h.ok).toBe(false);
  if (!h.ok) {
    expect(h.message).toContain(`Docker Engine unreachable at ${path}`);
    expect(h.message).toMatch(/ENOENT/);
  }
});
