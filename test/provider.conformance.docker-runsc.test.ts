/**
 * The provider conformance suite (test/provider.conformance.ts) over `docker` once more, with
 * `runtime: runsc` (gVisor): every container of the suite runs under runsc. `.ci/run` registers
 * runsc with dockerd (/etc/docker/daemon.json); on a machine whose engine lacks it the suite is
 * skipped with the reason, and fails under MARIONETTE_REQUIRE_DOCKER=1 (as in CI). Also: a
 * runtime the engine does not know fails at health and at provision, naming the known ones.
 */
import { describe, expect, it } from 'vitest';
import {
  docker,
  engine,
  ensureTestImage,
  execIn,
  readVolumeFile,
  TEST_IMAGE,
  uniquePrefix,
} from '../src/providers/docker/docker.test-support.js';
import { DockerSandboxProvider } from '../src/providers/docker/provider.js';
import type { SandboxHandle } from '../src/providers/types.js';
import { owned } from './docker.support.js';
import { describeProviderConformance } from './provider.conformance.js';

const prefix = uniquePrefix();
const runtimes = engine.ok
  ? Object.keys(((await docker.info()) as { Runtimes?: Record<string, unknown> }).Runtimes ?? {})
  : [];
const why = !engine.ok
  ? engine.reason
  : runtimes.includes('runsc')
    ? null
    : `the Docker Engine has no runsc runtime (known: ${runtimes.join(', ')}); .ci/run registers it`;
if (why !== null) console.warn(`skipping docker runsc conformance: ${why}`);
const required = process.env.MARIONETTE_REQUIRE_DOCKER === '1';

async function volumeExists(name: string): Promise<boolean> {
  try {
    await docker.getVolume(name).inspect();
    return true;
  } catch {
    return false;
  }
}

describe('docker runtime check', () => {
  it.skipIf(!engine.ok && !required)(
    'a runtime the engine does not know: a clear error naming the known ones',
    async () => {
      const p = new DockerSandboxProvider({
        image: TEST_IMAGE,
        network: 'none',
        labelPrefix: prefix,
        runtime: 'nosuch',
      });
      const h = await p.health();
      expect(h.ok).toBe(false);
      expect(h.ok ? '' : h.message).toMatch(
        /runtime nosuch is not registered with the Docker Engine at \/var\/run\/docker\.sock \(known: .*runc.*\); register it in \/etc\/docker\/daemon\.json/,
      );
      await expect(
        p.provision({
          projectId: 'p',
          orgId: 'o',
          registrationToken: 't',
          env: {},
          config: {},
          runnerId: 'run_nosuch',
          poolId: 'pool',
          poolName: 'pool',
          sessionId: null,
        }),
      ).rejects.toThrow(/docker provider: runtime nosuch is not registered/);
      expect(await owned(prefix)).toEqual([]);
      expect(() => new DockerSandboxProvider({ runtime: 'bad name' })).toThrow(
        /runtime: expected a runtime name like "runsc"/,
      );
    },
  );
});

describe.skipIf(why !== null && !required)('docker provider conformance under gVisor', () => {
  it('the engine knows runsc', () => expect(runtimes).toContain('runsc'));
  describeProviderConformance('docker (runtime runsc)', {
    setup: ensureTestImage,
    // The server a docker runner dials knows docker: its gateway socket is open to the containers' group.
    serverConfig: 'providers: { docker: {} }\n',
    create: ({ installId, server }) =>
      new DockerSandboxProvider(
        {
          image: TEST_IMAGE,
          network: 'none',
          labelPrefix: prefix,
          gatewaySocket: server.gatewaySocket,
          runtime: 'runsc',
        },
        { installId },
      ),
    workspace: {
      async write(h: SandboxHandle, file, text) {
        const info = await docker.getContainer(h.externalId).inspect();
        if (info.HostConfig.Runtime !== 'runsc') throw new Error(`container runs under ${info.HostConfig.Runtime}`);
        const r = await execIn(docker, h.externalId, ['sh', '-c', 'printf %s "$1" > "/workspace/$0"', file, text]);
        if (r.exitCode !== 0) throw new Error(`writing /workspace/${file} failed: ${r.stderr}`);
      },
      async read(h: SandboxHandle, file) {
        const volume = h.metadata.volume as string;
        if (!(await volumeExists(volume))) return null;
        return readVolumeFile(prefix, volume, file).catch(() => null);
      },
    },
    leftovers: () => owned(prefix),
    readyTimeoutMs: 120_000,
  });
});
