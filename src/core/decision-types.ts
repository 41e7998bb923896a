/**
 * @module What the scheduler takes and gives: a placement request, the pool candidates with their
 * live state, and the decision (the chosen placement and one verdict per pool).
 */
import type { CompiledPool, RunnerView } from './compiled-pool.js';
import type { EgressCapabilities, EgressPolicy } from './egress.js';
import type { Selector } from './selector.js';
import type { AgentCard, AuthMode, PoolVerdict, Profile, RuntimeKind, SandboxProviderCapabilities } from './types.js';

export interface PoolCandidate {
  pool: CompiledPool;
  /** The provider's capabilities; `undefined` when no provider with this id is registered. */
  capabilities: SandboxProviderCapabilities | undefined;
  /** `null` when reachable, else why not (e.g. `Docker Engine unreachable at /var/run/docker.sock`). */
  providerUnavailable: string | null;
  /**
   * Set when the pool's provider declares a credential and the org has none (stored or in the
   * server's environment): the `credential_missing` detail, naming the variable and the command.
   */
  credentialMissing?: string | null;
  /** Live runners of this pool (not offline / terminated). */
  runners: readonly RunnerView[];
  /** Live runners of this provider across all pools (for the provider's `maxConcurrent`). */
  providerLiveRunners: number;
  /**
   * Set when the pool asks for a nested sandbox runtime (`sandbox_mode: runner-creates-sandbox`)
   * its runners do not have: the `missing_requirement` detail, naming the runtime.
   */
  sandboxMissing?: string | null;
  /**
   * Set for a pool with a nested sandbox: its runners enforce egress per task with these
   * capabilities (./nested-sandbox.ts nestedEgressCaps), so any runner of it can take a session
   * that narrows the pool's policy.
   */
  nestedEgress?: EgressCapabilities | null;
}

export interface PlacementRequest {
  orgId: string;
  agent: Pick<AgentCard, 'name' | 'runtimes' | 'requires'>;
  authMode: AuthMode;
  providerId?: string | null;
  /** Pool name (or id). */
  poolName?: string | null;
  selector?: Selector | null;
  /** Its selector is ANDed with the request's; its providerPreference orders ties on priority. */
  profile?: Profile | null;
  /** The session's own egress policy (narrowing its pool's); null or absent: the pool's. */
  egress?: EgressPolicy | null;
}

export type PlacementAction = 'assign' | 'provision' | 'wait';

export interface Placement {
  poolId: string;
  poolName: string;
  providerId: string;
  action: PlacementAction;
  /** The idle runner to assign (action `assign`), else null. */
  runnerId: string | null;
  /** The first of the agent's runtimes (in its order) the pool provides; null when it declares none. */
  runtime: RuntimeKind | null;
}

export interface Decision {
  chosen: Placement | null;
  /** One per candidate, in candidate order. */
  verdicts: PoolVerdict[];
}
