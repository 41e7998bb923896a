/**
 * @module The provider contract (the seed's `SandboxProvider`) and the capability matrix the
 * scheduler routes on. Providers own their clients and connections; nothing in `src/core`
 * imports a provider SDK.
 */

import type { EgressPolicy } from '../core/egress.js';
import type { ComposedToolchainDemand } from '../core/kits.js';
// The capability matrix and suspend strategies are domain types (src/core/types.ts); providers import them from here.
import type { SandboxProviderCapabilities, SuspendStrategy } from '../core/types.js';

/** The kit demand the runner executes inside the box (threaded onto the work item, never run by provision). */
export type { ComposedToolchainDemand } from '../core/kits.js';
export type {
  BillingModel,
  EgressDefault,
  IdleCostModel,
  SandboxProviderCapabilities,
  SuspendStrategy,
  TransportModel,
} from '../core/types.js';
export { SUSPEND_STRATEGIES } from '../core/types.js';

export interface SandboxSpec {
  projectId: string;
  orgId: string;
  /** One-time registration token the runner exchanges for its credential. */
  registrationToken: string;
  env: Record<string, string>;
  /** The session's own image (where its pool allows one), else absent: the provider's or pool's image. */
  image?: string;
  /**
   * What the session asked for (its profile's resources under its own): CPUs as a decimal
   * (`0.5`), memory in MiB, GPUs as a count; `timeoutSec` is the task timeout.
   */
  resources?: { cpu?: string; memoryMB?: number; gpu?: string; timeoutSec?: number };
  /** The pool's `sandbox_config`. */
  config: Record<string, unknown>;
  toolchainDemand?: ComposedToolchainDemand;
  /** The pool's suspend strategy and fallback, so a provider can prepare for them (e.g. a writable rootfs for `snapshot`). */
  suspend?: { strategy: SuspendStrategy; fallback: SuspendStrategy };
  /**
   * The session's effective egress policy (its pool's, narrowed by the session; see
   * src/core/egress.ts). Absent: the pool sets none, so the provider's default. A provider whose
   * capabilities say `supportsCustomNetworkPolicy` compiles it to its own control.
   */
  egress?: EgressPolicy;
  /** Marionette additions: who the sandbox belongs to (labels, workspace naming). */
  runnerId: string;
  poolId: string;
  poolName: string;
  sessionId: string | null;
  /**
   * The runner's tunnel secret, for a provider whose pool uses `transport: tunnel`: it goes into
   * the agent's environment with `tunnelEnv` (./runner-boot.ts) and nowhere else.
   */
  tunnelSecret?: string;
}

/** Where the server dials a listening agent (`transport: tunnel`): a ws:// or wss:// URL and any headers the provider's proxy wants. */
export interface TunnelEndpoint {
  url: string;
  headers?: Record<string, string>;
}

export interface SandboxHandle {
  providerId: string;
  externalId: string;
  /** Always carries `orgId`. */
  metadata: Record<string, unknown>;
}

export type SandboxStatus = 'provisioning' | 'ready' | 'running' | 'terminated' | 'failed';

export interface SandboxExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * What an object a provider started is for, which decides who owns it: a `sandbox` (what runs a
 * runner: a container, a process group) belongs to its runner; `storage` (a workspace volume or
 * directory, a snapshot) to its runner or to its session while that session has not ended; a
 * `network` to its pool.
 */
export type OwnedRole = 'sandbox' | 'storage' | 'network';

/** One object a provider started, found on its backend (labels, records) rather than in the store. */
export interface OwnedObject {
  role: OwnedRole;
  /** The provider's own word for it (`container`, `volume`, `process`, `workspace`, ...). */
  kind: string;
  /** What the provider addresses it by (a container id, a runner id, a directory name). */
  id: string;
  name: string;
  /** Owner ids ('' when absent); `install` is the id of the install that started it. */
  owner: { session: string; runner: string; pool: string; org: string; install: string };
}

/** Decides about one listed object (whether its owner is live; whether an unlabelled one is ours). */
export type OwnerCheck = (o: OwnedObject) => boolean | Promise<boolean>;

/** What `reapOrphans` did. Nothing is dropped silently: every failure is listed. */
export interface ReapResult<O extends OwnedObject = OwnedObject> {
  removed: O[];
  kept: O[];
  /** Not live but not removable right now (e.g. a network with containers attached). */
  skipped: Array<{ object: O; reason: string }>;
  failed: Array<{ object: O; error: Error }>;
  /**
   * Not this install's, so never looked at: another install's objects, and objects from before
   * install ids (no install) whose owner `adopt` did not recognise.
   */
  foreign: O[];
}

/**
 * The contract every provider implements. Required: provisioning, status, terminate, and the
 * two reconciliation methods (`list`, `reapOrphans`) through which the server finds and removes
 * what a crash left behind. The rest is optional and declared by what the provider implements
 * (`supportedSuspendStrategies` must list only strategies whose methods exist; see
 * test/provider.conformance.ts, which checks every provider against this contract).
 */
export interface SandboxProvider {
  readonly id: string;
  readonly displayName: string;
  readonly capabilities: SandboxProviderCapabilities;
  provision(spec: SandboxSpec): Promise<SandboxHandle>;
  status(handle: SandboxHandle): Promise<SandboxStatus>;
  /**
   * Why a sandbox `status` calls `failed` or `terminated` ended, in words a user can act on (an
   * out-of-memory kill, an exit code, an eviction); null when the provider cannot say. The server
   * puts it in the reason it gives for taking the runner offline.
   */
  statusReason?(handle: SandboxHandle): Promise<string | null>;
  /**
   * Stops the sandbox and removes it (and its storage). Idempotent: a sandbox already gone is
   * fine. Throws when it cannot be sure the sandbox is stopped; the server then keeps the runner
   * out of `terminated` and retries.
   */
  terminate(handle: SandboxHandle): Promise<void>;
  /**
   * Everything this provider started that still exists on its backend, of every install sharing
   * that backend (see `owner.install`): what the reconciler compares with the store.
   */
  list(): Promise<OwnedObject[]>;
  /**
   * Removes this install's objects whose owner `isLive` rejects (sandboxes first, then storage,
   * then networks), and never looks at another install's. An object with no install id (made
   * before install ids) is this install's only when `adopt` says so.
   */
  reapOrphans(isLive: OwnerCheck, adopt?: OwnerCheck): Promise<ReapResult>;
  /**
   * Stops everything the sandbox runs, now, keeping its storage, and resolves once it is stopped.
   * The server calls it when it gives up on the runner (lease expired, or sandbox found dead),
   * before the runner's task is declared lost and retried, so a retry never runs beside the old
   * attempt. A provider without it relies on the agent fencing itself (src/agent/fence.ts).
   */
  fence?(handle: SandboxHandle): Promise<void>;
  streamLogs?(handle: SandboxHandle): AsyncIterable<string>;
  execCommand?(handle: SandboxHandle, command: string, env?: Record<string, string>): Promise<SandboxExecResult>;
  /** Suspend strategies this provider instance can honour (the rest use the pool's fallback). */
  supportedSuspendStrategies?(): readonly SuspendStrategy[];
  pause?(handle: SandboxHandle): Promise<void>;
  unpause?(handle: SandboxHandle): Promise<void>;
  /**
   * Where `terminate_preserve_storage` keeps the workspace: `provider` (default: a volume, a
   * directory, a stopped sandbox's disk) or `workspace-store` (only the server's workspace store,
   * so a workspace snapshot that fails, or cannot be taken, fails the suspend).
   */
  readonly preservedStorage?: 'provider' | 'workspace-store';
  /**
   * Stops the sandbox but keeps its storage; `restore` later starts a new sandbox on it. A
   * provider whose storage is the workspace store (taken by the server just before) may return
   * the handle `restore` and `destroyStorage` get instead of this one (e.g. without a snapshot it
   * deleted); nothing returned keeps this handle.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: providers that return nothing (Promise<void>) keep their handle
  stopPreserveStorage?(handle: SandboxHandle): Promise<SandboxHandle | void>;
  snapshot?(handle: SandboxHandle): Promise<SandboxHandle>;
  restore?(handle: SandboxHandle, spec: SandboxSpec): Promise<SandboxHandle>;
  /** Removes storage a session kept (volumes, snapshots) once the session ends. */
  destroyStorage?(handle: SandboxHandle): Promise<void>;
  /**
   * The tunnel transport (docs/providers/adding-a-provider.md): where the server dials the agent of
   * a sandbox started with `tunnelEnv`, or null when the handle's sandbox dials in. The server asks
   * whenever it (re)dials, so the answer may change (a resumed sandbox's new host).
   */
  tunnelEndpoint?(handle: SandboxHandle): Promise<TunnelEndpoint | null>;
  /** Whether the provider's backend is reachable right now; a message when not. */
  health?(): Promise<{ ok: true } | { ok: false; message: string }>;
  close?(): Promise<void>;
}
