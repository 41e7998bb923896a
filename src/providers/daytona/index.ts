/**
 * @module The `daytona` provider's descriptor: one Daytona cloud sandbox per runner, on the
 * official `@daytonaio/sdk` (loaded only by the server, when a runner is provisioned). Its
 * credential is per org (apiKey, apiUrl, target), with the environment fallback DAYTONA_API_KEY /
 * DAYTONA_API_URL / DAYTONA_TARGET. See docs/providers/daytona.md.
 */
import { defineProvider, KEEP_STORAGE_SUSPEND } from '../descriptor.js';
import { BARE_CLOUD_RUNTIMES } from '../substrate.js';
import { DAYTONA_CAPABILITIES } from './capabilities.js';
import { DaytonaProviderConfigSchema } from './config.js';
import { DAYTONA_CREDENTIAL_FIELDS } from './credentials.js';

export const daytona = defineProvider({
  id: 'daytona',
  displayName: 'Daytona',
  capabilities: DAYTONA_CAPABILITIES,
  substrate: {
    runtimeKinds: [...BARE_CLOUD_RUNTIMES],
    requirementKinds: ['network-egress', 'git', 'full-history-clone'],
  },
  suspend: KEEP_STORAGE_SUSPEND,
  poolMode: 'managed',
  config: DaytonaProviderConfigSchema,
  // Needs at least the gateway address its sandboxes dial: without a section its pools are unavailable.
  requiresConfig: true,
  credential: { fields: DAYTONA_CREDENTIAL_FIELDS },
  async create(config, ctx) {
    const { DaytonaSandboxProvider } = await import('./provider.js');
    const resolve = ctx.resolveCredential;
    return new DaytonaSandboxProvider(config, {
      ...(ctx.installId ? { installId: ctx.installId } : {}),
      ...(resolve ? { resolveCredential: (orgId: string) => resolve(orgId) } : {}),
    });
  },
});
