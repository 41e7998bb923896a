/**
 * @module The kubernetes provider's row of the capability matrix (the seed's class row): pods on
 * any node of the cluster, billed as the cluster is (fixed), no pause (a pod cannot be frozen
 * through the API), a NetworkPolicy per runner for egress.
 */
import type { SandboxProviderCapabilities } from '../types.js';

export const KUBERNETES_CAPABILITIES: Readonly<SandboxProviderCapabilities> = Object.freeze({
  transportModel: 'either',
  supportsFsSnapshot: false,
  supportsPauseResume: false,
  supportsCapacityQuery: true,
  maxConcurrent: null,
  maxSessionDurationSeconds: null,
  regions: ['*'],
  os: ['linux'],
  arch: ['x86_64', 'arm64'],
  idleCostModel: 'metered',
  billingModel: 'fixed',
  maxVCpu: null,
  maxMemoryMb: null,
  supportsGpu: false,
  supportsCustomNetworkPolicy: true,
  egressDefault: 'allow-all',
  isA2ARemote: false,
} satisfies SandboxProviderCapabilities);
