/**
 * The provider conformance suite (test/provider.conformance.ts) over `modal`, with Modal's JS SDK
 * talking gRPC to the Modal stand-in (test/modal-standin/), whose sandboxes are Docker containers
 * on this machine, so every runner really starts and dials in. The workspace is read and written
 * through the backend (`docker exec` in the sandbox's container), not the provider.
 */
import { dockerDescribe } from '../src/providers/docker/docker.test-support.js';
import { ModalSandboxProvider } from '../src/providers/modal/provider.js';
import { type ModalTarget, modalTarget } from './modal.support.js';
import { describeProviderConformance } from './provider.conformance.js';

let target: ModalTarget;

dockerDescribe('modal provider conformance (Modal API stand-in)', () => {
  describeProviderConformance(
    'modal',
    {
      async setup() {
        target = await modalTarget();
      },
      create: ({ installId, server }) =>
        new ModalSandboxProvider(target.config(server.gatewayPort), { installId, env: target.env }),
      workspace: {
        async write(h, file, text) {
          const r = await target.sh(h, 'printf %s "$1" > "/workspace/$0"', file, text);
          if (r.exitCode !== 0) throw new Error(`writing /workspace/${file} failed: ${r.stderr}`);
        },
        async read(h, file) {
          const r = await target.sh(h, 'cat "/workspace/$0"', file).catch(() => null);
          return r && r.exitCode === 0 ? r.stdout : null;
        },
      },
      async leftovers() {
        const left = await target.standin.leftovers();
        await target.close();
        return left;
      },
    },
    {
      skips: [
        {
          reason:
            "a Modal sandbox's disk ends with it: terminate_preserve_storage keeps the workspace in the server's workspace store, not in the provider (test/modal.e2e.test.ts; docs/providers/modal.md)",
          cases: ['preserve storage', 'destroy storage'],
        },
      ],
    },
  );
});
