/**
 * @module The modal provider's row of the capability matrix (the seed's class row): a Modal
 * sandbox per runner whose agent dials out, billed by wall-clock while it runs (CPU, memory and
 * GPU by the second), nothing while it is gone; its filesystem can be snapshotted to an image. The
 * seed marks pause "yes*" (preview-tier): the row declares it, but this provider instance does not
 * offer it (the JS SDK 0.11.1 has no pause call), so a pool asking for `pause` gets its fallback.
 */
import { BOTH_ARCHES } from '../descriptor.js';
import type { SandboxProviderCapabilities } from '../types.js';

export const MODAL_CAPABILITIES: Readonly<SandboxProviderCapabilities> = Object.freeze({
  transportModel: 'dial-in',
  supportsFsSnapshot: true,
  // Preview-tier in the seed ("yes*"): declared for the class, not offered by this instance (see above).
  supportsPauseResume: true,
  supportsCapacityQuery: false,
  maxConcurrent: null,
  // The seed's table has `-` here although its provider list says "Modal - GPU, 24h ceiling";
  // the table wins for the class row. A sandbox's own lifetime is `sandboxTimeout` (default 24h).
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
} satisfies SandboxProviderCapabilities);
