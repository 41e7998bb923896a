/**
 * @module The `modal` provider's descriptor (Modal cloud sandboxes (GPU)). Not implemented in this version: it has
 * its capability row and substrate so the matrix, `/v1/providers` and pool validation know it, and
 * no `create`, so its pools are `unavailable` and configuring `providers.modal` is a startup error.
 */
import { BOTH_ARCHES, defineProvider, KEEP_STORAGE_SUSPEND, NO_CONFIG } from '../descriptor.js';
import { BARE_CLOUD_RUNTIMES } from '../substrate.js';

export const modal = defineProvider({
  id: 'modal',
  displayName: 'Modal',
  capabilities: {
    transportModel: 'dial-in',
    supportsFsSnapshot: true,
    // Preview-tier in the seed ("yes*"): declared, but the modal provider may fall back.
    supportsPauseResume: true,
    supportsCapacityQuery: false,
    maxConcurrent: null,
    // The seed's table has `-` here although its provider list says "Modal - GPU, 24h ceiling";
    // the table wins for the class row, the modal provider instance may declare 86400.
    maxSessionDurationSeconds: null,
    regions: ['*'],
    os: ['linux'],
    arch: [...BOTH_ARCHES],
    idleCostModel: 'metered',
    billingModel: 'wall-clock',
    maxVCpu: null,
    maxMemoryMb: null,
    supportsGpu: true,
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
      { name: 'tokenId', env: 'MODAL_TOKEN_ID', required: true, secret: false },
      { name: 'tokenSecret', env: 'MODAL_TOKEN_SECRET', required: true, secret: true },
    ],
  },
  config: NO_CONFIG,
});
