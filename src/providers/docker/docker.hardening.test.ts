/** @module Hardening defaults of docker sandboxes, checked in `docker inspect` and from inside the box. */
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
} from './docker.test-support.js';
import { DockerSandboxProvider } from './provider.js';

const prefix = uniquePrefix();
const provider = new DockerSandboxProvider({
  image: TEST_IMAGE,
  network: 'none',
  labelPrefix: prefix,
  resources: { memory: '512m', cpus: '0.5' },
  pidsLimit: 128,
  tmpfsSize: '64m',
  command: ['sleep', '600'],
});

dockerDescribe('docker provider hardening', () => {
  beforeAll(ensureTestImage);
  afterAll(() => expectNoLeaks(prefix));

  it('shows every hardening default in docker inspect, with owner labels on container and volume', async () => {
    const spec = makeSpec();
    const h = await provider.provision(spec);
    try {
      const c = await docker.getContainer(h.externalId).inspect();
      expect(c.Config.User).toBe('1000:1000');
      expect(c.HostConfig.CapDrop).toEqual(['ALL']);
      expect(c.HostConfig.CapAdd ?? []).toEqual([]);
      expect(c.HostConfig.SecurityOpt).toEqual(['no-new-privileges']);
      expect(c.HostConfig.PidsLimit).toBe(128);
      expect(c.HostConfig.Memory).toBe(512 * 1024 * 1024);
      expect(c.HostConfig.NanoCpus).toBe(500_000_000);
      expect(c.HostConfig.ReadonlyRootfs).toBe(true);
      expect(c.HostConfig.Privileged).toBe(false);
      expect(c.HostConfig.NetworkMode).toBe('none');
      expect(c.HostConfig.Tmpfs?.['/tmp']).toContain('size=64m');
      const mounts = c.Mounts.map((m) => ({ d: m.Destination, rw: m.RW }));
      expect(mounts).toContainEqual({ d: '/opt/marionette', rw: false });
      expect(mounts).toContainEqual({ d: '/opt/marionette-node/bin/node', rw: false });
      expect(mounts).toContainEqual({ d: '/workspace', rw: true });
      const expected = {
        [`${prefix}.managed`]: 'true',
        [`${prefix}.session`]: spec.sessionId,
        [`${prefix}.runner`]: spec.runnerId,
        [`${prefix}.pool`]: spec.poolId,
        [`${prefix}.org`]: spec.orgId,
      };
      expect(c.Config.Labels).toMatchObject({ ...expected, [`${prefix}.kind`]: 'container' });
      const v = await docker.getVolume(h.metadata.volume as string).inspect();
      expect(v.Labels).toMatchObject({ ...expected, [`${prefix}.kind`]: 'volume' });
    } finally {
      await provider.terminate(h);
    }
  });

  it('runs as the non-root user, with a writable workspace and /tmp and a read-only rootfs', async () => {
    const h = await provider.provision(makeSpec());
    try {
      const sh = (cmd: string) => execIn(docker, h.externalId, ['sh', '-c', cmd]);
      expect((await sh('id -u')).stdout.trim()).toBe('1000');
      expect((await sh('echo ok > /workspace/w && cat /workspace/w')).stdout.trim()).toBe('ok');
      expect((await sh('echo ok > /tmp/t && cat /tmp/t')).stdout.trim()).toBe('ok');
      const ro = await sh('touch /etc/x');
      expect(ro.exitCode).not.toBe(0);
      expect(ro.stderr).toMatch(/Read-only file system/);
      // no capabilities, no privilege gain
      const status = (await sh('cat /proc/self/status')).stdout;
      expect(status).toMatch(/CapEff:\s+0000000000000000/);
      expect(status).toMatch(/NoNewPrivs:\s+1/);
    } finally {
      await provider.terminate(h);
    }
  });

  it('makes the workspace writable for a user other than the image owner', async () => {
    const h = await provider.provision(makeSpec({ config: { user: '2000:2000' } }));
    try {
      const r = await execIn(docker, h.externalId, [
        'sh',
        '-c',
        'id -u && echo ok > /workspace/w && stat -c %u /workspace',
      ]);
      expect(r.exitCode).toBe(0);
      expect(r.stdout.trim().split('\n')).toEqual(['2000', '2000']);
    } finally {
      await provider.terminate(h);
    }
  });

  it('network none leaves only the loopback interface', async () => {
    const h = await provider.provision(makeSpec());
    try {
      const r = await execIn(docker, h.externalId, ['sh', '-c', 'tail -n +3 /proc/net/dev | cut -d: -f1']);
      expect(
        r.stdout
          .split('\n')
          .map((s) => s.trim())
          .filter(Boolean),
      ).toEqual(['lo']);
    } finally {
      await provider.terminate(h);
    }
  });

  it('network host shares the host interfaces (control for the none test)', async () => {
    const h = await provider.provision(makeSpec({ config: { network: 'host' } }));
    try {
      const r = await execIn(docker, h.externalId, ['sh', '-c', 'tail -n +3 /proc/net/dev | cut -d: -f1']);
      expect(
        r.stdout
          .split('\n')
          .map((s) => s.trim())
          .filter(Boolean).length,
      ).toBeGreaterThan(1);
    } finally {
      await provider.terminate(h);
    }
  });
});
