/**
 * @module The daytona provider's row of the capability matrix (the seed's class row): a Daytona
 * sandbox per runner whose agent dials out, billed by wall-clock while it runs and by storage only
 * while it is stopped or archived; its filesystem can be snapshotted, there is no pause.
 */
import { BOTH_ARCHES } from '../descriptor.js';
import type { SandboxProviderCapabilities } from '../types.js';

export const DAYTONA_CAPABILITIES: Readonly<SandboxProviderCapabilities> = Object.freeze({
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
} satisfies SandboxProviderCapabilities);
