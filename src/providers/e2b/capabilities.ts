/**
 * @module The e2b provider's row of the capability matrix (the seed's class row): Firecracker
 * microVMs in E2B's cloud whose runner dials out to the gateway, billed per second of wall-clock
 * time while running (nothing while paused but storage), with pause/resume that keeps memory.
 */
import type { SandboxProviderCapabilities } from '../types.js';

export const E2B_CAPABILITIES: Readonly<SandboxProviderCapabilities> = Object.freeze({
  transportModel: 'dial-in',
  supportsFsSnapshot: true,
  supportsPauseResume: true,
  supportsCapacityQuery: false,
  maxConcurrent: null,
  maxSessionDurationSeconds: null,
  regions: ['*'],
  os: ['linux'],
  arch: ['x86_64', 'arm64'],
  idleCostModel: 'zero',
  billingModel: 'wall-clock',
  maxVCpu: null,
  maxMemoryMb: null,
  supportsGpu: false,
  supportsCustomNetworkPolicy: false,
  egressDefault: 'allow-all',
  isA2ARemote: false,
} satisfies SandboxProviderCapabilities);
