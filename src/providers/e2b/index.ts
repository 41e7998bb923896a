/**
 * @module The `e2b` provider's descriptor (E2B cloud sandboxes). Not implemented in this version: it has
 * its capability row and substrate so the matrix, `/v1/providers` and pool validation know it, and
 * no `create`, so its pools are `unavailable` and configuring `providers.e2b` is a startup error.
 */
import { BOTH_ARCHES, defineProvider, KEEP_STORAGE_SUSPEND, NO_CONFIG } from '../descriptor.js';
import { BARE_CLOUD_RUNTIMES } from '../substrate.js';

export const e2b = defineProvider({
  id: 'e2b',
  displayName: 'E2B',
  capabilities: {
    transportModel: 'dial-in',
    supportsFsSnapshot: true,
    supportsPauseResume: true,
    supportsCapacityQuery: false,
    maxConcurrent: null,
    maxSessionDurationSeconds: null,
    regions: ['*'],
    os: ['linux'],
    arch: [...BOTH_ARCHES],
    idleCostModel: 'zero',
    billingModel: 'wall-clock',
    maxVCpu: null,
    maxMemoryMb: null,
    supportsGpu: false,
    supportsCustomNetworkPolicy: false,
    egressDefault: 'allow-all',
    isA2ARemote: false,
  },
  substrate: {
    runtimeKinds: [...BARE_CLOUD_RUNTIMES],
    requirementKinds: ['long-running', 'network-egress', 'git', 'full-history-clone'],
  },
  suspend: KEEP_STORAGE_SUSPEND,
  poolMode: 'managed',
  credential: { fields: [{ name: 'apiKey', env: 'E2B_API_KEY', required: true, secret: true }] },
  config: NO_CONFIG,
});
