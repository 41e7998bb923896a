/**
 * The provider conformance suite (test/provider.conformance.ts) over `docker`, on the machine's
 * engine: skipped with a printed reason when there is none, a failure under
 * MARIONETTE_REQUIRE_DOCKER=1 (as in CI).
 */

import {
  docker,
  dockerDescribe,
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

async function volumeExists(name: string): Promise<boolean> {
  try {
    await docker.getVolume(name).inspect();
    return true;
  } catch {
    return false;
  }
}

dockerDescribe('docker provider conformance', () => {
  describeProviderConformance('docker', {
    setup: ensureTestImage,
    // The server a docker runner dials knows docker: its gateway socket is open to the containers' group.
    serverConfig: 'providers: { docker: {} }\n',
    create: ({ installId, server }) =>
      new DockerSandboxProvider(
        { image: TEST_IMAGE, network: 'none', labelPrefix: prefix, gatewaySocket: server.gatewaySocket },
        { installId },
      ),
    workspace: {
      async write(h: SandboxHandle, file, text) {
        const r = await execIn(docker, h.externalId, ['sh', '-c', 'printf %s "$1" > "/workspace/$0"', file, text]);
        if (r.exitCode !== 0) throw new Error(`writing /workspace/${file} failed: ${r.stderr}`);
      },
      // Through a helper container on the volume (never mounting a missing volume: that would create it).
      async read(h: SandboxHandle, file) {
        const volume = h.metadata.volume as string;
        if (!(await volumeExists(volume))) return null;
        return readVolumeFile(prefix, volume, file).catch(() => null);
      },
    },
    leftovers: () => owned(prefix),
  });
});
