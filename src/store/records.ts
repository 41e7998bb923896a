/**
 * @module Records as the API and services see them (camelCase, parsed JSON), and the row mappers.
 */

import type { EgressPolicy } from '../core/egress.js';
import type {
  AgentCard,
  AuthMode,
  Labels,
  Lifecycle,
  Pool,
  PoolMode,
  PoolVerdict,
  Profile,
  Resources,
  RunnerState,
  SandboxMode,
  SessionState,
  TaskState,
} from '../core/types.js';
import type { AgentOutcome } from '../protocol/messages.js';
import type { SandboxHandle } from '../providers/types.js';
import type { PoolsTable, ProfilesTable, RunnersTable, SessionsTable, TasksTable } from './schema.js';

/** What the user asked for when creating a session (kept verbatim for re-evaluation and explain). */
export interface SessionRequest {
  agent: string;
  prompt: string | null;
  provider: string | null;
  pool: string | null;
  selector: string | null;
  profile: string | null;
  authMode: AuthMode;
  env: Record<string, string>;
  /** Higher runs first; FIFO (oldest queued task) within a priority. Absent = 0. */
  priority?: number;
  /** Task timeout for this session's tasks (ms); absent = profile, card, server default. */
  taskTimeoutMs?: number;
  /** The image to run in instead of the pool's (where the pool allows it). */
  image?: string;
  /** Resources over the profile's (cpu, memory, gpu quantities). */
  resources?: Resources;
  /** The session's egress policy, narrowing its pool's (src/core/egress.ts); absent: the pool's. */
  egress?: EgressPolicy;
  /** The repository cloned before the first task (src/agent/repo.ts). */
  repo?: { url: string; ref: string | null; depth: number | null; fullHistory: boolean };
  /** Kits (`id@version`) added to the agent card's (src/core/kits.ts). */
  kits?: string[];
}

export interface Placement {
  decidedAt: number;
  chosenPoolId: string | null;
  action: 'assign' | 'provision' | 'wait' | null;
  verdicts: PoolVerdict[];
  summary: string;
}

export interface SessionSuspendInfo {
  strategy: string;
  requested: string | null;
  suspendedAt: number;
  handle: SandboxHandle | null;
  escalatedFrom?: string;
  /** A suspend or resume in flight; absent once it ended (see src/core/suspend-steps.ts). */
  op?: SuspendOp;
}

/** The intent of a suspend or resume, written before its first side effect. */
export interface SuspendOp {
  kind: 'suspend' | 'resume';
  /** The last step done (a step of `SUSPEND_STEPS` / `RESUME_STEPS` for the strategy). */
  step: string;
  /** The runner being suspended (null: the session had no live runner). */
  runnerId: string | null;
  /** The session's state before (`active`, `idle`; `suspended` for a pause being escalated). */
  from: SessionState;
  /** The runner's state before, to put it back when a suspend fails. */
  runnerFrom: RunnerState | null;
  /** The strategy asked for (the request's, else the pool's). */
  wanted: string;
  /** Why the strategy is not the one asked for (null when it is). */
  fellBack: string | null;
  /** The kept storage's handle once a step produced it (a snapshot's image). */
  handle: SandboxHandle | null;
  startedAt: number;
}

export interface Session {
  id: string;
  orgId: string;
  projectId: string;
  agent: string;
  state: SessionState;
  stateReason: string | null;
  poolId: string | null;
  runnerId: string | null;
  request: SessionRequest;
  placement: Placement | null;
  waitForCapacity: boolean;
  suspend: SessionSuspendInfo | null;
  createdAt: number;
  updatedAt: number;
  endedAt: number | null;
}

export interface Task {
  id: string;
  orgId: string;
  sessionId: string;
  ordinal: number;
  prompt: string;
  state: TaskState;
  runnerId: string | null;
  attempt: number;
  maxRetries: number;
  retryOf: string | null;
  exitCode: number | null;
  error: string | null;
  cancelRequested: boolean;
  createdAt: number;
  assignedAt: number | null;
  startedAt: number | null;
  finishedAt: number | null;
  /** What the agent itself reported (cards with an outcome reader); null otherwise. */
  outcome: AgentOutcome | null;
  /** The task's own timeout (`taskTimeoutMs` when it was created); null: the session's, profile's or card's. */
  timeoutMs: number | null;
}

export interface Runner {
  id: string;
  orgId: string;
  poolId: string;
  sessionId: string | null;
  name: string;
  state: RunnerState;
  labels: Labels;
  providerId: string;
  handle: SandboxHandle | null;
  agentVersion: string | null;
  draining: boolean;
  lastHeartbeatAt: number | null;
  leaseExpiresAt: number | null;
  idleSince: number | null;
  createdAt: number;
  updatedAt: number;
  stoppedAt: number | null;
}

export interface LogLine {
  id: number;
  taskId: string;
  sessionId: string;
  seq: number;
  stream: 'stdout' | 'stderr' | 'system';
  line: string;
  ts: number;
}

export function json<T>(text: string | null, fallback: T): T {
  if (text === null) return fallback;
  return JSON.parse(text) as T;
}

const num = (v: number | string | null): number | null => (v === null ? null : Number(v));

export function toSession(r: SessionsTable): Session {
  return {
    id: r.id,
    orgId: r.org_id,
    projectId: r.project_id,
    agent: r.agent,
    state: r.state as SessionState,
    stateReason: r.state_reason,
    poolId: r.pool_id,
    runnerId: r.runner_id,
    request: json<SessionRequest>(r.request, {} as SessionRequest),
    placement: json<Placement | null>(r.placement, null),
    waitForCapacity: Boolean(r.wait_for_capacity),
    suspend: json<SessionSuspendInfo | null>(r.suspend, null),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    endedAt: num(r.ended_at),
  };
}

export function toTask(r: TasksTable): Task {
  return {
    id: r.id,
    orgId: r.org_id,
    sessionId: r.session_id,
    ordinal: r.ordinal,
    prompt: r.prompt,
    state: r.state as TaskState,
    runnerId: r.runner_id,
    attempt: r.attempt,
    maxRetries: r.max_retries,
    retryOf: r.retry_of,
    exitCode: r.exit_code,
    error: r.error,
    cancelRequested: Boolean(r.cancel_requested),
    createdAt: Number(r.created_at),
    assignedAt: num(r.assigned_at),
    startedAt: num(r.started_at),
    finishedAt: num(r.finished_at),
    outcome: r.outcome ? json<AgentOutcome | null>(r.outcome, null) : null,
    timeoutMs: num(r.timeout_ms ?? null),
  };
}

export function toRunner(r: RunnersTable): Runner {
  return {
    id: r.id,
    orgId: r.org_id,
    poolId: r.pool_id,
    sessionId: r.session_id,
    name: r.name,
    state: r.state as RunnerState,
    labels: json<Labels>(r.labels, {}),
    providerId: r.provider_id,
    handle: json<SandboxHandle | null>(r.handle, null),
    agentVersion: r.agent_version,
    draining: Boolean(r.draining),
    lastHeartbeatAt: num(r.last_heartbeat_at),
    leaseExpiresAt: num(r.lease_expires_at),
    idleSince: num(r.idle_since),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    stoppedAt: num(r.stopped_at),
  };
}

export function toPool(r: PoolsTable): Pool {
  return {
    id: r.id,
    orgId: r.org_id,
    projectId: r.project_id ?? null,
    name: r.name,
    mode: r.mode as PoolMode,
    providerId: r.provider_id,
    priority: r.priority,
    active: Boolean(r.active),
    labels: json<Labels>(r.labels, {}),
    minRunners: r.min_runners,
    maxRunners: r.max_runners,
    idleTimeoutMs: num(r.idle_timeout_ms),
    selector: r.selector,
    runtimeProvides: json(r.runtime_provides, null),
    sandboxConfig: json<Record<string, unknown>>(r.sandbox_config, {}),
    egress: json<EgressPolicy | null>(r.egress ?? null, null),
    lifecycle: r.lifecycle as Lifecycle,
    sandboxMode: r.sandbox_mode as SandboxMode,
    suspendConfig: json(r.suspend_config, {
      strategy: 'terminate_preserve_storage',
      fallback: 'terminate',
      minDurationMs: 0,
      maxDurationMs: null,
    }),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

export function toProfile(r: ProfilesTable): Profile & { builtIn: boolean } {
  return {
    name: r.name,
    description: r.description,
    selector: r.selector,
    resources: json(r.resources, {}),
    providerPreference: json<string[]>(r.provider_preference, []),
    taskTimeoutMs: num(r.task_timeout_ms ?? null),
    builtIn: Boolean(r.built_in),
  };
}

export function toAgentCard(spec: string, builtIn: number): AgentCard {
  return { ...(JSON.parse(spec) as AgentCard), builtIn: Boolean(builtIn) };
}
