/**
 * @module The docker provider's row of the capability matrix: the seed's class row, and the row
 * of this engine (narrowed to its host's architecture). `supportsPauseResume` and
 * `supportsFsSnapshot` stay false as the seed declares them (no CRIU, so a pause does not survive
 * an engine restart, and `docker commit` is not a VM snapshot); the provider still implements
 * pause/unpause and snapshot/restore, listed by `supportedSuspendStrategies()`.
 */
import type { SandboxProviderCapabilities } from '../types.js';

export const DOCKER_CLASS_CAPABILITIES: Readonly<SandboxProviderCapabilities> = Object.freeze({
  transportModel: 'either',
  supportsFsSnapshot: false,
  supportsPauseResume: false,
  supportsCapacityQuery: true,
  maxConcurrent: null,
  maxSessionDurationSeconds: null,
  // The engine may be remote (DOCKER_HOST), so no region is implied.
  regions: ['*'],
  os: ['linux'],
  arch: ['x86_64', 'arm64'],
  idleCostModel: 'zero',
  billingModel: 'fixed',
  maxVCpu: null,
  maxMemoryMb: null,
  supportsGpu: false,
  supportsCustomNetworkPolicy: true,
  egressDefault: 'allow-all',
  isA2ARemote: false,
} satisfies SandboxProviderCapabilities);

export const DOCKER_CAPABILITIES: Readonly<SandboxProviderCapabilities> = Object.freeze({
  ...DOCKER_CLASS_CAPABILITIES,
  regions: ['local'],
  arch: [process.arch === 'arm64' ? 'arm64' : 'x86_64'],
});
