/**
 * @module The `local` provider's row of the capability matrix (the seed's class row).
 */
import type { SandboxProviderCapabilities } from '../types.js';

export const LOCAL_CAPABILITIES: Readonly<SandboxProviderCapabilities> = Object.freeze({
  transportModel: 'either',
  supportsFsSnapshot: false,
  supportsPauseResume: false,
  supportsCapacityQuery: true,
  maxConcurrent: null,
  maxSessionDurationSeconds: null,
  regions: ['local'],
  // The host's OS is only known at runtime; the class admits both hosts Marionette runs on.
  os: ['linux', 'darwin'],
  arch: ['x86_64', 'arm64'],
  idleCostModel: 'zero',
  billingModel: 'fixed',
  maxVCpu: null,
  maxMemoryMb: null,
  supportsGpu: false,
  supportsCustomNetworkPolicy: false,
  egressDefault: 'allow-all',
  isA2ARemote: false,
} satisfies SandboxProviderCapabilities);
