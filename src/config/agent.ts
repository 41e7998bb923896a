/**
 * @module The runner agent's configuration (flags over env). Kept apart from the server's config
 * loader so `marionette-agent` starts without loading YAML support.
 */
import { InvalidRequest } from '../core/errors.js';

type Env = Record<string, string | undefined>;

export interface AgentConfig {
  /** Gateway address: `host:port`, `ws://host:port`, or `unix:/path/to/gateway.sock`. */
  server: string;
  registrationToken: string | null;
  runnerId: string | null;
  pool: string | null;
  labels: Record<string, string>;
  name: string;
  workspace: string | null;
  stateDir: string | null;
}

/** Parses `k=v,k2=v2` label lists; errors name the bad entry. */
export function parseLabels(text: string, what = '--labels'): Record<string, string> {
  const out: Record<string, string> = {};
  if (!text.trim()) return out;
  for (const part of text.split(',')) {
    const m = /^\s*([A-Za-z0-9][A-Za-z0-9._/-]*)\s*=\s*([A-Za-z0-9._:/+-]*)\s*$/.exec(part);
    if (!m)
      throw new InvalidRequest(
        `${what}: ${JSON.stringify(part.trim())} is not key=value (keys and values: letters, digits, . _ - /)`,
      );
    out[m[1] as string] = m[2] as string;
  }
  return out;
}

/** marionette-agent: flags win over env (`MARIONETTE_SERVER`, `MARIONETTE_REGISTRATION_TOKEN`, ...). */
export function loadAgentConfig(
  flags: {
    server?: string;
    token?: string;
    pool?: string;
    labels?: string;
    name?: string;
    workspace?: string;
    stateDir?: string;
  },
  env: Env = process.env,
  hostname = 'runner',
): AgentConfig {
  const server = flags.server ?? env.MARIONETTE_SERVER ?? env.MARIONETTE_GATEWAY;
  if (!server)
    throw new InvalidRequest('no server given', { hint: 'pass --server HOST:9090 (or set MARIONETTE_SERVER)' });
  return {
    server,
    registrationToken: flags.token ?? env.MARIONETTE_REGISTRATION_TOKEN ?? env.RUNNER_TOKEN ?? null,
    runnerId: env.MARIONETTE_RUNNER_ID ?? null,
    pool: flags.pool ?? env.MARIONETTE_POOL ?? null,
    labels: parseLabels(flags.labels ?? env.MARIONETTE_LABELS ?? ''),
    name: flags.name ?? env.MARIONETTE_RUNNER_NAME ?? hostname,
    workspace: flags.workspace ?? env.MARIONETTE_WORKSPACE ?? null,
    stateDir: flags.stateDir ?? env.MARIONETTE_AGENT_STATE ?? null,
  };
}
