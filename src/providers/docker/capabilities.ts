/**
 * @module The docker row of the seed's capability matrix. The scheduler routes on these flags
 * (the lead reconciles this with `PROVIDER_CLASS_CAPABILITIES` in `src/core/capabilities.ts`).
 */
import type { SandboxProviderCapabilities } from '../types.js';

/**
 * Class capabilities of the docker provider, as in the seed's matrix. `supportsPauseResume` and
 * `supportsFsSnapshot` stay false as the seed declares them (no CRIU, so a pause does not survive an
 * engine restart, and a `docker commit` is not a provider-native VM snapshot); the provider still
 * implements `pause`/`unpause` and `snapshot`/`restore`, listed by `supportedSuspendStrategies()`.
 */
export const DOCKER_CAPABILITIES: Readonly<SandboxProviderCapabilities> = Object.freeze({
  transportModel: 'either',
  supportsFsSnapshot: false,
  supportsPauseResume: false,
  supportsCapacityQuery: true,
  maxConcurrent: null,
  maxSessionDurationSeconds: null,
  regions: ['local'],
  os: ['linux'],
  arch: [process.arch === 'arm64' ? 'arm64' : 'x86_64'],
  idleCostModel: 'zero',
  billingModel: 'fixed',
  maxVCpu: null,
  maxMemoryMb: null,
  supportsGpu: false,
  supportsCustomNetworkPolicy: true,
  egressDefault: 'allow-all',
  isA2ARemote: false,
});
