/**
 * @module The providers this server runs, built from config. Each provider owns its client; the
 * scheduler sees only their capabilities.
 */
import type { ServerConfig } from '../config/index.js';
import { parseDockerConfig } from './docker/config.js';
import { DockerSandboxProvider } from './docker/provider.js';
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

/**
 * Builds every provider. Docker is always registered: with no engine its `health()` reports the
 * socket it tried and the scheduler shows its pools as `provider_unavailable`. Its agent reaches
 * the gateway through the server's unix socket folder, mounted into each container. Every object a
 * provider creates carries `installId`, and its reaper touches only objects carrying it.
 */
export function createProviders(
  config: ServerConfig,
  gateway: string,
  /** The install's id (from the store): providers label what they create with it. */
  installId?: string,
): Map<string, SandboxProvider> {
  const docker = parseDockerConfig(
    { gatewaySocket: config.gatewaySocket, ...config.providers.docker },
    'providers.docker in marionette.yaml',
  );
  const providers: SandboxProvider[] = [
    new LocalSandboxProvider({
      home: config.home,
      gateway,
      config: config.providers.local,
      ...(installId ? { installId } : {}),
    }),
    new DockerSandboxProvider(docker, installId ? { installId } : {}),
    new JoinedRunnersProvider('pool'),
    new JoinedRunnersProvider('external'),
  ];
  return new Map(providers.map((p) => [p.id, p]));
}
