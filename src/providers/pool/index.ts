/**
 * @module The `pool` provider's descriptor: machines the operator runs (macOS, GPU, bare metal)
 * whose `marionette-agent` joins with a reusable registration token. Marionette starts nothing.
 */
import { z } from 'zod';
import { defineProvider, ProviderSuspendConfig } from '../descriptor.js';
import { JOINED_MACHINE_SUBSTRATE } from '../substrate.js';
import type { SandboxProviderCapabilities } from '../types.js';

export const POOL_CAPABILITIES: Readonly<SandboxProviderCapabilities> = {
  // Pool machines run marionette-agent, which always dials out to the gateway.
  transportModel: 'dial-out',
  // Operator-owned machines: Marionette neither snapshots nor pauses them.
  supportsFsSnapshot: false,
  supportsPauseResume: false,
  // Capacity is the set of connected idle runners, which the server knows exactly.
  supportsCapacityQuery: true,
  maxConcurrent: null,
  maxSessionDurationSeconds: null,
  regions: ['*'],
  // macOS and Linux machines join pools (the seed's macOS and GPU pools).
  os: ['linux', 'darwin'],
  arch: ['x86_64', 'arm64'],
  // The machines are paid for whether they work or not.
  idleCostModel: 'zero',
  billingModel: 'fixed',
  maxVCpu: null,
  maxMemoryMb: null,
  // GPU machines can join a pool (the seed's "GPU Pool"); whether a given pool has GPUs is
  // declared by the operator (runtime_provides `gpu` plus labels), never defaulted.
  supportsGpu: true,
  // The machines' network belongs to their operator.
  supportsCustomNetworkPolicy: false,
  egressDefault: 'allow-all',
  isA2ARemote: false,
};

/** `providers.pool`: the seed declares the pools themselves here (`providers.pool.pools.macos: {...}`). */
const PoolProviderConfig = z.strictObject({
  /** Pools by name, as under `pools:` (their mode and provider are `pool`). Default none. */
  pools: z.record(z.string(), z.record(z.string(), z.unknown())).optional(),
  /** Default suspend config of pool-mode pools. Default release_to_pool, fallback terminate. */
  suspend_config: ProviderSuspendConfig.optional(),
});

export const pool = defineProvider({
  id: 'pool',
  displayName: 'Pool (runners join with a token)',
  capabilities: POOL_CAPABILITIES,
  substrate: JOINED_MACHINE_SUBSTRATE,
  suspend: { strategy: 'release_to_pool', fallback: 'terminate', minDurationMs: 0, maxDurationMs: null },
  poolMode: 'pool',
  config: PoolProviderConfig,
  async create() {
    const { JoinedRunnersProvider } = await import('./provider.js');
    return new JoinedRunnersProvider('pool', 'Pool (runners join with a token)', POOL_CAPABILITIES);
  },
  pools: (config) => config.pools ?? {},
});
