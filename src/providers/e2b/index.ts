/**
 * @module The `e2b` provider's descriptor (E2B cloud sandboxes, on the official `e2b` SDK, loaded
 * only by the server). Built only when marionette.yaml has a `providers.e2b` section (it names the
 * gateway address the sandboxes dial); without one its pools are `unavailable` ("not configured
 * on this server"). The API key is per org (`mctl credentials set e2b`), else `E2B_API_KEY`.
 */
import { defineProvider } from '../descriptor.js';
import { BARE_CLOUD_RUNTIMES } from '../substrate.js';
import { E2B_CAPABILITIES } from './capabilities.js';
import { E2bProviderConfigSchema } from './config.js';

export const e2b = defineProvider({
  id: 'e2b',
  displayName: 'E2B',
  capabilities: E2B_CAPABILITIES,
  substrate: {
    runtimeKinds: [...BARE_CLOUD_RUNTIMES],
    requirementKinds: ['long-running', 'network-egress', 'git', 'full-history-clone'],
  },
  // E2B's native suspend: the sandbox is paused with its memory, and resumes where it was.
  suspend: { strategy: 'pause', fallback: 'terminate', minDurationMs: 0, maxDurationMs: null },
  poolMode: 'managed',
  config: E2bProviderConfigSchema,
  requiresConfig: true,
  credential: { fields: [{ name: 'apiKey', env: 'E2B_API_KEY', required: true, secret: true }] },
  async create(config, ctx) {
    const { E2bSandboxProvider } = await import('./provider.js');
    // The environment fallback is read here, at the edge, until the credential store resolves it (ctx.resolveCredential).
    const defaultApiKey = process.env.E2B_API_KEY;
    return new E2bSandboxProvider(config, {
      ...(ctx.installId ? { installId: ctx.installId } : {}),
      ...(ctx.resolveCredential ? { resolveCredential: (org: string) => ctx.resolveCredential!(org) } : {}),
      ...(defaultApiKey ? { defaultApiKey } : {}),
    });
  },
});
