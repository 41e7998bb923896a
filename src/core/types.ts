/**
 * @module Plain domain types shared by the core, the store, the server and the CLI. No I/O here.
 */
import type { EgressPolicy } from './egress.js';

export type Labels = Record<string, string>;

export type PoolMode = 'managed' | 'pool' | 'external';
export const POOL_MODES: readonly PoolMode[] = ['managed', 'pool', 'external'];
export type Lifecycle = 'per-session' | 'per-task';
export const LIFECYCLES: readonly Lifecycle[] = ['per-session', 'per-task'];
export type SandboxMode = 'runner-is-sandbox' | 'runner-creates-sandbox';
export const SANDBOX_MODES: readonly SandboxMode[] = ['runner-is-sandbox', 'runner-creates-sandbox'];
/** `local` and `host-session` may only run on `providerId=local` pools. */
export type AuthMode = 'local' | 'host-session' | 'byok' | 'metered' | 'shared';
export const AUTH_MODES: readonly AuthMode[] = ['local', 'host-session', 'byok', 'metered', 'shared'];

/** The seed's closed set of `AgentCard.runtimes[].kind`. */
export const RUNTIME_KINDS = [
  'native',
  'npm',
  'python-pip',
  'http',
  'mcp-server',
  'a2a-protocol',
  'host-binary',
  'workarea',
  'vendor-hosted',
  'langchain-runnable',
] as const;
export type RuntimeKind = (typeof RUNTIME_KINDS)[number];

/** The seed's closed set of `AgentCard.requires[].kind` (plus any `toolchain:<name>`). */
export const FIXED_REQUIREMENT_KINDS = [
  'persistent-storage',
  'long-running',
  'workarea',
  'host-binary',
  'network-egress',
  'gpu',
  'git',
  'full-history-clone',
] as const;
export type RequirementKind = (typeof FIXED_REQUIREMENT_KINDS)[number] | `toolchain:${string}`;

/** A pool's declared substrate (the `runtime_provides` override, or a class default). */
export interface RuntimeProvides {
  runtimeKinds: RuntimeKind[];
  requirementKinds: RequirementKind[];
}

export interface SuspendConfig {
  strategy: SuspendStrategy;
  fallback: SuspendStrategy;
  /** A session is not suspended before it has been active this long. */
  minDurationMs: number;
  /** A pause older than this escalates to the fallback. `null`: no limit. */
  maxDurationMs: number | null;
  /**
   * Whether an idle session holding one of this pool's runners is suspended (with this strategy)
   * when another session waits for the runner. `null` or absent: the server's `sessions.preempt_idle`.
   */
  preemptIdle?: boolean | null;
}

export interface Pool {
  id: string;
  orgId: string;
  /** The project the pool belongs to; null: every project of the org. */
  projectId?: string | null;
  name: string;
  mode: PoolMode;
  providerId: string;
  priority: number;
  active: boolean;
  labels: Labels;
  minRunners: number;
  maxRunners: number | null;
  idleTimeoutMs: number | null;
  /** Selector (selector language source text) that runners joining the pool must satisfy. */
  selector: string | null;
  runtimeProvides: RuntimeProvides | null;
  sandboxConfig: Record<string, unknown>;
  lifecycle: Lifecycle;
  sandboxMode: SandboxMode;
  suspendConfig: SuspendConfig;
  /** The pool's `network.egress` (see ./egress.ts); null or absent: its provider's `egressDefault`. */
  egress?: EgressPolicy | null;
  createdAt: number;
  updatedAt: number;
}

export interface AgentRuntime {
  kind: RuntimeKind;
}
export interface AgentRequirement {
  kind: RequirementKind;
}

/** What to run: a launch command template plus its substrate needs. */
export interface AgentCard {
  name: string;
  description: string;
  runtimes: AgentRuntime[];
  requires: AgentRequirement[];
  /**
   * argv template; `{{prompt}}` is replaced by the task's prompt, and an element that is exactly
   * `{{resume}}` by `resume` (on a follow-up task) or by nothing.
   */
  command: string[];
  /** Environment; a value's `{{workspace}}` is the task's workspace directory on the runner. */
  env: Record<string, string>;
  /** Env vars that must be set (on the server or in the session) for the agent to work. */
  requiredEnv: string[];
  kits: string[];
  builtIn: boolean;
  /** argv put in place of `{{resume}}` when the session has a conversation; `{{conversation}}` is its id. */
  resume?: string[];
  /** How the task's outcome is read from the agent's output (default `exit`: the exit code alone). */
  outcome?: OutcomeKind;
  /** Shell commands run (bash -lc, with the task's environment) before the command, for every card. */
  setup?: string[];
  /** This card's task timeout (ms); overrides the server default, under profile and session. */
  taskTimeoutMs?: number | null;
  /** How to provide each required env var, by name (shown when one is missing). */
  envHints?: Record<string, string>;
  /** Runs the command inside a login shell (`bash -l`, the login profile read first). Default false. */
  loginShell?: boolean;
}

/** How a task's outcome is read: the exit code alone, or the agent's own JSON result events. */
export const OUTCOME_KINDS = ['exit', 'claude', 'codex', 'gemini', 'opencode'] as const;
export type OutcomeKind = (typeof OUTCOME_KINDS)[number];

export interface Resources {
  cpu?: string;
  memory?: string;
  gpu?: string;
}

export interface Profile {
  name: string;
  description: string;
  selector: string | null;
  resources: Resources;
  /** Providers tried in this order (the first eligible wins ties on priority). */
  providerPreference: string[];
  /** Task timeout (ms) for sessions using this profile; overrides the agent card's. */
  taskTimeoutMs?: number | null;
}

export type SessionState =
  | 'pending'
  | 'scheduling'
  | 'provisioning'
  | 'active'
  | 'idle'
  | 'suspending'
  | 'suspended'
  | 'resuming'
  | 'completed'
  | 'failed'
  | 'cancelled'
  | 'terminated';

export type TaskState = 'queued' | 'assigned' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'timed_out' | 'lost';

export type RunnerState =
  | 'provisioning'
  | 'connecting'
  | 'idle'
  | 'busy'
  | 'draining'
  | 'paused'
  | 'suspended'
  | 'offline'
  | 'terminated';

/** Closed set of reasons a pool was not chosen. */
export type VerdictReason =
  | 'inactive'
  | 'org_mismatch'
  | 'provider_mismatch'
  | 'pool_mismatch'
  | 'auth_mode_pin'
  | 'missing_runtime'
  | 'missing_requirement'
  | 'selector_mismatch'
  | 'at_capacity'
  | 'provider_unavailable'
  | 'egress_policy'
  | 'lower_priority'
  | 'credential_missing';

export interface PoolVerdict {
  poolId: string;
  poolName: string;
  providerId: string;
  priority: number;
  /** `null` for the chosen pool. */
  reason: VerdictReason | null;
  detail: string;
  chosen: boolean;
}

/** How the runner and the control plane talk: the runner dials out, the server dials in, or either. */
export type TransportModel = 'dial-out' | 'dial-in' | 'either';
export type IdleCostModel = 'zero' | 'storage-only' | 'metered';
export type BillingModel = 'fixed' | 'wall-clock' | 'active-cpu';
export type EgressDefault = 'allow-all' | 'deny-all';

/** Every field of the seed's capability matrix (one row per provider class). `null` means "no limit / not declared". */
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

export type SuspendStrategy = 'pause' | 'snapshot' | 'terminate_preserve_storage' | 'release_to_pool' | 'terminate';
export const SUSPEND_STRATEGIES: readonly SuspendStrategy[] = [
  'pause',
  'snapshot',
  'terminate_preserve_storage',
  'release_to_pool',
  'terminate',
];
