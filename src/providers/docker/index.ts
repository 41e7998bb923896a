/**
 * @module The `docker` provider's descriptor: one container per runner on a Docker Engine, the
 * workspace on a named volume per session.
 */
import { join } from 'node:path';
import { defineProvider } from '../descriptor.js';
import { WORKER_IMAGE_SUBSTRATE } from '../substrate.js';
import { DOCKER_CLASS_CAPABILITIES } from './capabilities.js';
import { DockerProviderConfigSchema, imageRefusal, mergeDockerConfig } from './config.js';

export const docker = defineProvider({
  id: 'docker',
  displayName: 'Docker',
  capabilities: DOCKER_CLASS_CAPABILITIES,
  substrate: WORKER_IMAGE_SUBSTRATE,
  // Pause keeps memory; past a day (or when pausing fails) keep the volume and stop the container.
  suspend: {
    strategy: 'pause',
    fallback: 'terminate_preserve_storage',
    minDurationMs: 0,
    maxDurationMs: 24 * 3_600_000,
  },
  poolMode: 'managed',
  config: DockerProviderConfigSchema,
  async create(config, ctx) {
    const { DockerSandboxProvider } = await import('./provider.js');
    // Its agent reaches the gateway through the server's unix socket folder, mounted into each container.
    return new DockerSandboxProvider(
      { ...config, gatewaySocket: config.gatewaySocket ?? ctx.gatewaySocket },
      {
        ...(ctx.installId ? { installId: ctx.installId } : {}),
        egressDir: join(ctx.home, 'egress'),
        ...(ctx.onEgressDenied ? { onEgressDenied: ctx.onEgressDenied } : {}),
      },
    );
  },
  imagePolicy: (config, sandboxConfig, image) => imageRefusal(mergeDockerConfig(config, sandboxConfig), image),
});
