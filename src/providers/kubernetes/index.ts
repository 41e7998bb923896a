/**
 * @module The `kubernetes` provider's descriptor: one batch/v1 Job per runner in a namespace of a
 * cluster, on @kubernetes/client-node (loaded only by the server, when the section is configured).
 * Built only when marionette.yaml has a `providers.kubernetes` section: without one its pools are
 * `unavailable` ("not configured on this server").
 */
import { defineProvider, KEEP_STORAGE_SUSPEND } from '../descriptor.js';
import { WORKER_IMAGE_SUBSTRATE } from '../substrate.js';
import { KUBERNETES_CAPABILITIES } from './capabilities.js';
import { imageRefusal, KubernetesProviderConfigSchema, mergeKubernetesConfig } from './config.js';

export const kubernetes = defineProvider({
  id: 'kubernetes',
  displayName: 'Kubernetes',
  capabilities: KUBERNETES_CAPABILITIES,
  substrate: WORKER_IMAGE_SUBSTRATE,
  suspend: KEEP_STORAGE_SUSPEND,
  poolMode: 'managed',
  config: KubernetesProviderConfigSchema,
  requiresConfig: true,
  async create(config, ctx) {
    const { KubernetesSandboxProvider } = await import('./provider.js');
    return new KubernetesSandboxProvider(config, ctx.installId ? { installId: ctx.installId } : {});
  },
  imagePolicy: (config, sandboxConfig, image) => imageRefusal(mergeKubernetesConfig(config, sandboxConfig), image),
});
