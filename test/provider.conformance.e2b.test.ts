/**
 * The provider conformance suite (test/provider.conformance.ts) over `e2b`, with the official
 * SDK talking to the E2B stand-in (test/e2b-standin/) whose sandboxes are Docker containers on
 * this machine, so every runner really starts and dials in.
 */
import { dockerDescribe } from '../src/providers/docker/docker.test-support.js';
import { E2bSandboxProvider } from '../src/providers/e2b/provider.js';
import { type E2bTarget, e2bPrefix, e2bTarget } from './e2b.support.js';
import { describeProviderConformance } from './provider.conformance.js';

const prefix = e2bPrefix();
let target: E2bTarget;

dockerDescribe('e2b provider conformance (E2B stand-in)', () => {
  describeProviderConformance(
    'e2b',
    {
      async setup() {
        target = await e2bTarget(prefix);
      },
      create: ({ installId, server }) =>
        new E2bSandboxProvider(target.config(server.gatewayPort), { installId, defaultApiKey: target.apiKey }),
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
        const left = (await target.standin?.leftovers()) ?? [];
        await target.close();
        return left;
      },
    },
    {
      skips: [
        {
          reason:
            "an E2B sandbox's disk ends with it: terminate_preserve_storage keeps the workspace in the server's workspace store, not in the provider (test/e2b.store.e2e.test.ts; docs/providers/e2b.md)",
          cases: ['preserve storage', 'destroy storage'],
        },
      ],
    },
  );
});
