/**
 * @module The `external` provider's descriptor: one-off self-hosted runners that register with a
 * one-time token from `mctl runners register`. Marionette starts nothing.
 */
import { z } from 'zod';
import { defineProvider, ProviderSuspendConfig } from '../descriptor.js';
import { POOL_CAPABILITIES } from '../pool/index.js';
import { JOINED_MACHINE_SUBSTRATE } from '../substrate.js';

export const external = defineProvider({
  id: 'external',
  displayName: 'External (self-registered runners)',
  // Same transport and ownership as pool machines; the server knows whether the one runner is
  // connected and idle, and GPUs are possible but operator-declared.
  capabilities: POOL_CAPABILITIES,
  substrate: JOINED_MACHINE_SUBSTRATE,
  suspend: { strategy: 'release_to_pool', fallback: 'terminate', minDurationMs: 0, maxDurationMs: null },
  poolMode: 'external',
  config: z.strictObject({
    /** Default suspend config of external pools. Default release_to_pool, fallback terminate. */
    suspend_config: ProviderSuspendConfig.optional(),
  }),
  async create() {
    const { JoinedRunnersProvider } = await import('../pool/provider.js');
    return new JoinedRunnersProvider('external', 'External (self-registered runners)', POOL_CAPABILITIES);
  },
});
