/**
 * @module The providers this server runs, built from config. Each provider owns its client; the
 * scheduler sees only their capabilities.
 */
import type { ServerConfig } from '../config/index.js';
import { LocalSandboxProvider } from './local/provider.js';
import { JoinedRunnersProvider } from './pool/provider.js';
import type { SandboxProvider } from './types.js';

/** Provider ids the scheduler knows a class row for (see src/core/capabilities.ts). */
export const PROVIDER_IDS = [
  'local',
  'docker',
  'kubernetes',
  'e2b',
  'daytona',
  'modal',
  'vercel',
  'firecracker',
  'pool',
  'external',
] as const;

export function createProviders(config: ServerConfig, gateway: string): Map<string, SandboxProvider> {
  const providers: SandboxProvider[] = [
    new LocalSandboxProvider({ home: config.home, gateway, config: config.providers.local }),
    new JoinedRunnersProvider('pool'),
    new JoinedRunnersProvider('external'),
  ];
  return new Map(providers.map((p) => [p.id, p]));
}
