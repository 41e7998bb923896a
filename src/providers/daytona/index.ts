/**
 * @module The `daytona` provider's descriptor (Daytona cloud sandboxes). Not implemented in this version: it has
 * its capability row and substrate so the matrix, `/v1/providers` and pool validation know it, and
 * no `create`, so its pools are `unavailable` and configuring `providers.daytona` is a startup error.
 */
import { BOTH_ARCHES, defineProvider, KEEP_STORAGE_SUSPEND, NO_CONFIG } from '../descriptor.js';
import { BARE_CLOUD_RUNTIMES } from '../substrate.js';

export const daytona = defineProvider({
  id: 'daytona',
  displayName: 'Daytona',
  capabilities: {
    transportModel: 'dial-in',
    supportsFsSnapshot: true,
    supportsPauseResume: false,
    supportsCapacityQuery: false,
    maxConcurrent: null,
    maxSessionDurationSeconds: null,
    regions: ['*'],
    os: ['linux'],
    arch: [...BOTH_ARCHES],
    idleCostModel: 'storage-only',
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
    requirementKinds: ['network-egress', 'git', 'full-history-clone'],
  },
  suspend: KEEP_STORAGE_SUSPEND,
  poolMode: 'managed',
  credential: {
    fields: [
      { name: 'apiKey', env: 'DAYTONA_API_KEY', required: true, secret: true },
      { name: 'apiUrl', env: 'DAYTONA_API_URL', required: false, secret: false },
      { name: 'target', env: 'DAYTONA_TARGET', required: false, secret: false },
    ],
  },
  config: NO_CONFIG,
});
