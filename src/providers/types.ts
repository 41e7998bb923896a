/**
 * @module The provider contract (the seed's `SandboxProvider`) and the capability matrix the
 * scheduler routes on. Providers own their clients and connections; nothing in `src/core`
 * imports a provider SDK.
 */

/** How the runner and the control plane talk: the runner dials out, the server dials in, or either. */
export type TransportModel = 'dial-out' | 'dial-in' | 'either';
export type IdleCostModel = 'zero' | 'storage-only' | 'metered';
export type BillingModel = 'fixed' | 'wall-clock' | 'active-cpu';
export type EgressDefault = 'allow-all' | 'deny-all';

/** Every field of the seed's capability matrix. `null` means "no limit / not declared". */
export interface SandboxProviderCapabilities {
  transportModel: TransportModel;
  supportsFsSnapshot: boolean;
  supportsPauseResume: boolean;
  supportsCapacityQuery: boolean;
  maxConcurrent: number | null;
  maxSessionDurationSeconds: number | null;
  regions: string[];
  os: string[];
  arch: string[];
  idleCostModel: IdleCostModel;
  billingModel: BillingModel;
  maxVCpu: number | null;
  maxMemoryMb: number | null;
  supportsGpu: boolean;
  supportsCustomNetworkPolicy: boolean;
  egressDefault: EgressDefault;
  isA2ARemote: boolean;
}

/** The kit demand the runner executes inside the box (threaded onto the work item, never run by provision). */
export interface ComposedToolchainDemand {
  kits: string[];
  os: string;
  installCommands: string[];
  postAcquire: string[];
  preRelease: string[];
  env: Record<string, string>;
}

export interface SandboxSpec {
  projectId: string;
  orgId: string;
  /** One-time registration token the runner exchanges for its credential. */
  registrationToken: string;
  env: Record<string, string>;
  image?: string;
  resources?: { cpu?: string; memoryMB?: number; timeoutSec?: number };
  /** The pool's `sandbox_config`. */
  config: Record<string, unknown>;
  toolchainDemand?: ComposedToolchainDemand;
  /** The pool's suspend strategy and fallback, so a provider can prepare for them (e.g. a writable rootfs for `snapshot`). */
  suspend?: { strategy: SuspendStrategy; fallback: SuspendStrategy };
  /** Marionette additions: who the sandbox belongs to (labels, workspace naming). */
  runnerId: string;
  poolId: string;
  poolName: string;
  sessionId: string | null;
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

export type SuspendStrategy = 'pause' | 'snapshot' | 'terminate_preserve_storage' | 'release_to_pool' | 'terminate';
export const SUSPEND_STRATEGIES: readonly SuspendStrategy[] = [
  'pause',
  'snapshot',
  'terminate_preserve_storage',
  'release_to_pool',
  'terminate',
];

export interface SandboxProvider {
  readonly id: string;
  readonly displayName: string;
  readonly capabilities: SandboxProviderCapabilities;
  provision(spec: SandboxSpec): Promise<SandboxHandle>;
  status(handle: SandboxHandle): Promise<SandboxStatus>;
  terminate(handle: SandboxHandle): Promise<void>;
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
  /** Stops the sandbox but keeps its storage; `restore` later starts a new sandbox on it. */
  stopPreserveStorage?(handle: SandboxHandle): Promise<void>;
  snapshot?(handle: SandboxHandle): Promise<SandboxHandle>;
  restore?(handle: SandboxHandle, spec: SandboxSpec): Promise<SandboxHandle>;
  /** Removes storage a session kept (volumes, snapshots) once the session ends. */
  destroyStorage?(handle: SandboxHandle): Promise<void>;
  /** Whether the provider's backend is reachable right now; a message when not. */
  health?(): Promise<{ ok: true } | { ok: false; message: string }>;
  close?(): Promise<void>;
}
