/**
 * @module The `local` provider's descriptor: runners are `marionette-agent` child processes of the
 * server, one workspace folder per session.
 */
import { RUNTIME_KINDS } from '../../core/types.js';
import { defineProvider, KEEP_STORAGE_SUSPEND } from '../descriptor.js';
import { ALL_REQUIREMENTS_BUT_GPU_HOST } from '../substrate.js';
import { LOCAL_CAPABILITIES } from './capabilities.js';
import { LocalConfig } from './config.js';

export const local = defineProvider({
  id: 'local',
  displayName: 'Local processes',
  capabilities: LOCAL_CAPABILITIES,
  // Everything the host has: every runtime kind, host binaries, the host's Go and Node.
  substrate: {
    runtimeKinds: [...RUNTIME_KINDS],
    requirementKinds: [...ALL_REQUIREMENTS_BUT_GPU_HOST, 'host-binary', 'toolchain:go', 'toolchain:node'],
  },
  suspend: KEEP_STORAGE_SUSPEND,
  poolMode: 'managed',
  onServerHost: true,
  config: LocalConfig,
  async create(config, ctx) {
    const { LocalSandboxProvider } = await import('./provider.js');
    return new LocalSandboxProvider({
      home: ctx.home,
      gateway: ctx.gateway,
      config,
      ...(ctx.installId ? { installId: ctx.installId } : {}),
    });
  },
});
