/**
 * The provider conformance suite (test/provider.conformance.ts) over `daytona`, through the
 * official SDK against the Daytona API stand-in (test/daytona-standin/), whose sandboxes are
 * Docker containers on this machine, so every runner really starts and dials in. The workspace is
 * read and written through the backend (`docker exec` in the sandbox's container), not the provider.
 */

import { DaytonaSandboxProvider } from '../src/providers/daytona/provider.js';
import { docker, dockerDescribe, execIn } from '../src/providers/docker/docker.test-support.js';
import type { SandboxHandle } from '../src/providers/types.js';
import { type DaytonaTarget, daytonaTarget } from './daytona.support.js';
import { describeProviderConformance } from './provider.conformance.js';

let target: DaytonaTarget;
const container = (h: SandboxHandle) => {
  const id = target.standin.containerOf(h.externalId);
  if (!id) throw new Error(`no container for sandbox ${h.externalId}`);
  return id;
};

dockerDescribe('daytona provider conformance (Daytona API stand-in)', () => {
  describeProviderConformance('daytona', {
    async setup() {
      target = await daytonaTarget();
    },
    create: ({ installId, server }) =>
      new DaytonaSandboxProvider(target.config(server.gatewayPort), { installId, env: target.env }),
    workspace: {
      async write(h, file, text) {
        const r = await execIn(docker, container(h), ['sh', '-c', 'printf %s "$1" > "/workspace/$0"', file, text]);
        if (r.exitCode !== 0) throw new Error(`writing /workspace/${file} failed: ${r.stderr}`);
      },
      async read(h, file) {
        const id = target.standin.containerOf(h.externalId);
        if (!id) return null;
        // A stopped sandbox's filesystem is read from its container as it is (docker cp would do too).
        const c = docker.getContainer(id);
        const running = (await c.inspect()).State.Running;
        if (!running) await c.start();
        const r = await execIn(docker, id, ['cat', `/workspace/${file}`]);
        if (!running) await c.stop({ t: 1 });
        return r.exitCode === 0 ? r.stdout : null;
      },
    },
    async leftovers() {
      const left = await target.standin.leftovers();
      await target.close();
      return left;
    },
  });
});
