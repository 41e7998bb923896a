/**
 * @module The `vercel` provider's descriptor (Vercel Sandbox microVMs). Not implemented in this version: it has
 * its capability row and substrate so the matrix, `/v1/providers` and pool validation know it, and
 * no `create`, so its pools are `unavailable` and configuring `providers.vercel` is a startup error.
 */
import { BOTH_ARCHES, defineProvider, KEEP_STORAGE_SUSPEND, NO_CONFIG } from '../descriptor.js';
import { NODE_RUNTIMES } from '../substrate.js';

export const vercel = defineProvider({
  id: 'vercel',
  displayName: 'Vercel Sandbox',
  capabilities: {
    transportModel: 'dial-in',
    supportsFsSnapshot: true,
    supportsPauseResume: false,
    supportsCapacityQuery: false,
    maxConcurrent: null,
    maxSessionDurationSeconds: 18_000,
    regions: ['*'],
    os: ['linux'],
    arch: [...BOTH_ARCHES],
    idleCostModel: 'metered',
    billingModel: 'active-cpu',
    maxVCpu: null,
    maxMemoryMb: null,
    supportsGpu: false,
    supportsCustomNetworkPolicy: true,
    egressDefault: 'allow-all',
    isA2ARemote: false,
  },
  substrate: {
    runtimeKinds: [...NODE_RUNTIMES],
    requirementKinds: ['network-egress', 'git', 'full-history-clone', 'toolchain:node'],
  },
  suspend: KEEP_STORAGE_SUSPEND,
  poolMode: 'managed',
  credential: {
    fields: [
      { name: 'token', env: 'VERCEL_TOKEN', required: true, secret: true },
      { name: 'teamId', env: 'VERCEL_TEAM_ID', required: false, secret: false },
      { name: 'projectId', env: 'VERCEL_PROJECT_ID', required: false, secret: false },
    ],
  },
  config: NO_CONFIG,
});
