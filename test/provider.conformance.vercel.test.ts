/**
 * The provider conformance suite (test/provider.conformance.ts) over `vercel`, with the official
 * `@vercel/sandbox` SDK talking to the Vercel Sandbox stand-in (test/vercel-standin/) whose
 * sessions are Docker containers on this machine, so every runner really starts and dials in.
 */
import { dockerDescribe } from '../src/providers/docker/docker.test-support.js';
import { VercelSandboxProvider } from '../src/providers/vercel/provider.js';
import { describeProviderConformance } from './provider.conformance.js';
import { type VercelTarget, vercelTarget } from './vercel.support.js';

let target: VercelTarget;

dockerDescribe('vercel provider conformance (Vercel Sandbox stand-in)', () => {
  describeProviderConformance(
    'vercel',
    {
      async setup() {
        target = await vercelTarget();
      },
      create: ({ installId, server }) =>
        new VercelSandboxProvider(target.config(server.gatewayPort), {
          installId,
          credential: target.standin.credential,
        }),
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
            "a Vercel sandbox's disk ends with it: terminate_preserve_storage keeps the workspace in the server's workspace store, not in the provider (test/vercel.e2e.test.ts; docs/providers/vercel.md)",
          cases: ['preserve storage', 'destroy storage'],
        },
      ],
    },
  );
});
