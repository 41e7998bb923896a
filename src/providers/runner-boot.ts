/**
 * @module What every runner needs to start, built one way for every provider: the gateway address
 * it dials, its one-time registration token, its runner id and its workspace path, as the
 * environment `marionette-agent` reads at start. A provider adds only what is its own (a state
 * folder, a HOME) and decides how the values reach the box (a child's env, a container's env).
 */

import { InvalidRequest } from '../core/errors.js';
import { TUNNEL_ENV } from '../protocol/tunnel.js';
import type { SandboxSpec } from './types.js';

export interface RunnerBoot {
  /** The gateway address as seen from inside the sandbox (`unix:/run/...sock`, `ws://host:9090`); null: none (a test command). */
  gateway: string | null;
  registrationToken: string;
  runnerId: string;
  /** The workspace path as seen from inside the sandbox. */
  workspace: string;
}

/** The boot values of `spec`'s runner, given where the gateway and the workspace are from inside its sandbox. */
export function runnerBoot(
  spec: Pick<SandboxSpec, 'registrationToken' | 'runnerId'>,
  gateway: string | null,
  workspace: string,
): RunnerBoot {
  return { gateway, registrationToken: spec.registrationToken, runnerId: spec.runnerId, workspace };
}

/**
 * The agent's environment for `boot`. The gateway goes in `MARIONETTE_GATEWAY` (the agent's own
 * name for it; `MARIONETTE_SERVER` is mctl's API URL and is never set for a runner).
 * @example runnerEnv(runnerBoot(spec, 'unix:/run/marionette/gateway.sock', '/workspace')).MARIONETTE_RUNNER_ID === spec.runnerId
 */
export function runnerEnv(boot: RunnerBoot): Record<string, string> {
  return {
    ...(boot.gateway !== null ? { MARIONETTE_GATEWAY: boot.gateway } : {}),
    MARIONETTE_REGISTRATION_TOKEN: boot.registrationToken,
    MARIONETTE_RUNNER_ID: boot.runnerId,
    MARIONETTE_WORKSPACE: boot.workspace,
  };
}

/**
 * The tunnel transport's half of the seam: the environment that makes the agent listen on `port`
 * for the server (`MARIONETTE_LISTEN`, `MARIONETTE_TUNNEL_SECRET`) instead of dialling a gateway.
 * A provider merges it over `runnerEnv(runnerBoot(spec, null, workspace))`, exposes `port` through
 * its SDK's port tunnel, and answers `tunnelEndpoint(handle)` with the URL the server dials.
 * @example envs = { ...runnerEnv(runnerBoot(spec, null, '/workspace')), ...tunnelEnv(spec, 49999) }
 */
export function tunnelEnv(spec: Pick<SandboxSpec, 'tunnelSecret' | 'runnerId'>, port: number): Record<string, string> {
  if (!spec.tunnelSecret)
    throw new InvalidRequest(`runner ${spec.runnerId}: transport tunnel, but the spec carries no tunnel secret`);
  return { [TUNNEL_ENV.listen]: String(port), [TUNNEL_ENV.secret]: spec.tunnelSecret };
}
