/**
 * @module The docker provider's row of the capability matrix: the seed's class row, narrowed to
 * what this engine is (its host's architecture). `supportsPauseResume` and `supportsFsSnapshot`
 * stay false as the seed declares them (no CRIU, so a pause does not survive an engine restart,
 * and `docker commit` is not a VM snapshot); the provider still implements pause/unpause and
 * snapshot/restore, listed by `supportedSuspendStrategies()`.
 */
import { PROVIDER_CLASS_CAPABILITIES } from '../../core/capabilities.js';
import type { SandboxProviderCapabilities } from '../types.js';

export const DOCKER_CAPABILITIES: Readonly<SandboxProviderCapabilities> = Object.freeze({
  ...PROVIDER_CLASS_CAPABILITIES.docker!,
  regions: ['local'],
  arch: [process.arch === 'arm64' ? 'arm64' : 'x86_64'],
});
