/**
 * @module The `kubernetes` provider's descriptor (one pod per runner in a namespace of a cluster). Not implemented in this version: it has
 * its capability row and substrate so the matrix, `/v1/providers` and pool validation know it, and
 * no `create`, so its pools are `unavailable` and configuring `providers.kubernetes` is a startup error.
 */
import { BOTH_ARCHES, defineProvider, KEEP_STORAGE_SUSPEND, NO_CONFIG } from '../descriptor.js';
import { WORKER_IMAGE_SUBSTRATE } from '../substrate.js';

export const kubernetes = defineProvider({
  id: 'kubernetes',
  displayName: 'Kubernetes',
  capabilities: {
    transportModel: 'either',
    supportsFsSnapshot: false,
    supportsPauseResume: false,
    supportsCapacityQuery: true,
    maxConcurrent: null,
    maxSessionDurationSeconds: null,
    regions: ['*'],
    os: ['linux'],
    arch: [...BOTH_ARCHES],
    idleCostModel: 'metered',
    billingModel: 'fixed',
    maxVCpu: null,
    maxMemoryMb: null,
    supportsGpu: false,
    supportsCustomNetworkPolicy: true,
    egressDefault: 'allow-all',
    isA2ARemote: false,
  },
  substrate: WORKER_IMAGE_SUBSTRATE,
  suspend: KEEP_STORAGE_SUSPEND,
  poolMode: 'managed',
  config: NO_CONFIG,
});
