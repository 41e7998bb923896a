/**
 * @module The `modal` provider's descriptor: one Modal sandbox per runner (GPU capable), on Modal
 * Labs' JS SDK (`modal` 0.x, loaded only by the server when a runner is provisioned). Built only
 * when marionette.yaml has a `providers.modal` section (it names the gateway address the sandboxes
 * dial); without one its pools are `unavailable`. Its credential is per org (tokenId,
 * tokenSecret), with the environment fallback MODAL_TOKEN_ID / MODAL_TOKEN_SECRET. See
 * docs/providers/modal.md.
 */
import { defineProvider, KEEP_STORAGE_SUSPEND } from '../descriptor.js';
import { BARE_CLOUD_RUNTIMES } from '../substrate.js';
import { MODAL_CAPABILITIES } from './capabilities.js';
import { ModalProviderConfigSchema } from './config.js';
import { MODAL_CREDENTIAL_FIELDS } from './credentials.js';

export const modal = defineProvider({
  id: 'modal',
  displayName: 'Modal',
  capabilities: MODAL_CAPABILITIES,
  substrate: {
    runtimeKinds: [...BARE_CLOUD_RUNTIMES],
    requirementKinds: ['network-egress', 'git', 'full-history-clone'],
  },
  suspend: KEEP_STORAGE_SUSPEND,
  poolMode: 'managed',
  config: ModalProviderConfigSchema,
  // Needs at least the gateway address its sandboxes dial: without a section its pools are unavailable.
  requiresConfig: true,
  credential: { fields: MODAL_CREDENTIAL_FIELDS },
  async create(config, ctx) {
    const { ModalSandboxProvider } = await import('./provider.js');
    const resolve = ctx.resolveCredential;
    return new ModalSandboxProvider(config, {
      ...(ctx.installId ? { installId: ctx.installId } : {}),
      ...(resolve ? { resolveCredential: (orgId: string) => resolve(orgId) } : {}),
    });
  },
});
