/**
 * @module The vercel provider's row of the capability matrix (the seed's class row): a Vercel
 * Sandbox (Firecracker microVM) per runner whose agent dials out, billed by active CPU (plus the
 * memory it was given, by wall-clock) while it runs; its filesystem can be snapshotted, there is
 * no pause, and a sandbox lives at most 18,000 s (5 h), which the server's ceiling enforces.
 */
import { BOTH_ARCHES } from '../descriptor.js';
import type { SandboxProviderCapabilities } from '../types.js';

export const VERCEL_CAPABILITIES: Readonly<SandboxProviderCapabilities> = Object.freeze({
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
} satisfies SandboxProviderCapabilities);
