/**
 * @module The REST API's success-response schemas: what each operation answers, for the OpenAPI
 * document (`/v1/openapi.json`) and the types of `MarionetteClient`. They name the fields clients
 * rely on; objects are open (a newer server may add fields), so they describe and type, and the
 * server does not re-validate what it sends.
 */
import { z } from 'zod';
import { RUNNER_STATES, SESSION_STATES, TASK_STATES } from '../core/states.js';

const ms = z.number().describe('milliseconds since the epoch');
const nullableMs = ms.nullable();
const labels = z.record(z.string(), z.string());

export const SessionState = z.enum(SESSION_STATES);
export const TaskState = z.enum(TASK_STATES);
export const RunnerState = z.enum(RUNNER_STATES);

export const PoolVerdict = z.looseObject({
  poolId: z.string(),
  poolName: z.string(),
  providerId: z.string(),
  priority: z.number(),
  /** Why the pool was not chosen (a closed set); null for the chosen pool. */
  reason: z.string().nullable(),
  detail: z.string(),
  chosen: z.boolean(),
});

/** Where a session was (or would be) placed, and a verdict per pool. */
export const PlacementDecision = z.looseObject({
  chosenPoolId: z.string().nullable(),
  action: z.string().nullable(),
  verdicts: z.array(PoolVerdict),
  summary: z.string(),
});

export const Task = z.looseObject({
  id: z.string(),
  sessionId: z.string(),
  ordinal: z.number(),
  prompt: z.string(),
  state: TaskState,
  runnerId: z.string().nullable(),
  attempt: z.number(),
  maxRetries: z.number(),
  retryOf: z.string().nullable(),
  exitCode: z.number().nullable(),
  error: z.string().nullable(),
  cancelRequested: z.boolean(),
  createdAt: ms,
  assignedAt: nullableMs,
  startedAt: nullableMs,
  finishedAt: nullableMs,
  /** What the agent itself reported (cards with an outcome reader); null otherwise. */
  outcome: z.record(z.string(), z.unknown()).nullable(),
  /** The task's own timeout (ms), when it was created with one. */
  timeoutMs: z.number().nullable().optional(),
});

export const Session = z.looseObject({
  id: z.string(),
  agent: z.string(),
  state: SessionState,
  /** Why it is in this state (waiting for capacity, suspended to make room, failed...). */
  stateReason: z.string().nullable(),
  poolId: z.string().nullable(),
  runnerId: z.string().nullable(),
  /** The provider id of the pool the session was placed on; null before placement. */
  sandboxProvider: z.string().nullable(),
  request: z.record(z.string(), z.unknown()),
  placement: PlacementDecision.nullable(),
  waitForCapacity: z.boolean(),
  suspend: z.record(z.string(), z.unknown()).nullable(),
  createdAt: ms,
  updatedAt: ms,
  endedAt: nullableMs,
});

/** A session with its tasks, in order (what create and get answer). */
export const SessionWithTasks = Session.extend({ tasks: z.array(Task) });

/** A dry run's answer: where the session would go; nothing was created. */
export const DryRunResult = z.looseObject({ dryRun: z.literal(true), decision: PlacementDecision });

export const Explain = z.looseObject({
  sessionId: z.string(),
  state: SessionState,
  reason: z.string().nullable(),
  decision: PlacementDecision.nullable(),
});

export const SessionEvent = z.looseObject({
  id: z.number(),
  sessionId: z.string(),
  type: z.string(),
  data: z.record(z.string(), z.unknown()),
  ts: ms,
});

export const LogLine = z.looseObject({
  id: z.number(),
  taskId: z.string(),
  sessionId: z.string(),
  seq: z.number(),
  stream: z.enum(['stdout', 'stderr', 'system']),
  line: z.string(),
  ts: ms,
});
/** A page of log lines; `next` is the `after` of the next page, null on the last one. */
export const LogPage = z.looseObject({ items: z.array(LogLine), next: z.number().nullable() });

export const Runner = z.looseObject({
  id: z.string(),
  poolId: z.string(),
  sessionId: z.string().nullable(),
  name: z.string(),
  state: RunnerState,
  labels,
  providerId: z.string(),
  agentVersion: z.string().nullable(),
  draining: z.boolean(),
  lastHeartbeatAt: nullableMs,
  createdAt: ms,
  updatedAt: ms,
  stoppedAt: nullableMs,
});

export const Pool = z.looseObject({
  id: z.string(),
  name: z.string(),
  mode: z.string(),
  providerId: z.string(),
  priority: z.number(),
  active: z.boolean(),
  labels,
  minRunners: z.number(),
  maxRunners: z.number().nullable(),
  idleTimeoutMs: z.number().nullable(),
  selector: z.string().nullable(),
  lifecycle: z.string(),
  sandboxMode: z.string(),
  suspendConfig: z.record(z.string(), z.unknown()),
  createdAt: ms,
  updatedAt: ms,
});
/** A pool in a listing or a get: with its runner counts and health. */
export const PoolStatus = Pool.extend({
  runners: z.looseObject({ live: z.number(), idle: z.number(), bound: z.number(), busy: z.number() }),
  /** `ok`, `warning` (see warnings) or `unavailable` (its provider cannot run anything; see unavailableReason). */
  health: z.enum(['ok', 'warning', 'unavailable']),
  unavailableReason: z.string().optional(),
  warnings: z.array(z.string()),
});
export const PoolDetail = PoolStatus.extend({ substrate: z.record(z.string(), z.unknown()) });

export const Profile = z.looseObject({
  name: z.string(),
  description: z.string(),
  selector: z.string().nullable(),
  resources: z.looseObject({ cpu: z.string().optional(), memory: z.string().optional(), gpu: z.string().optional() }),
  providerPreference: z.array(z.string()),
  taskTimeoutMs: z.number().nullable().optional(),
});

export const AgentCard = z.looseObject({
  name: z.string(),
  description: z.string(),
  runtimes: z.array(z.looseObject({ kind: z.string() })),
  requires: z.array(z.looseObject({ kind: z.string() })),
  command: z.array(z.string()),
  env: z.record(z.string(), z.string()),
  kits: z.array(z.string()),
  builtIn: z.boolean().optional(),
});
export const RenderResult = z.looseObject({
  agent: z.string(),
  argv: z.array(z.string()),
  /** Names only: values may be secrets. */
  env: z.array(z.string()),
  cardEnv: z.record(z.string(), z.string()),
  setup: z.array(z.string()),
  outcome: z.string(),
  timeoutMs: z.number().nullable(),
  /** Required environment the session would lack, each with how to provide it. */
  missing: z.array(z.looseObject({ name: z.string(), hint: z.string() })),
});

export const Provider = z.looseObject({
  id: z.string(),
  displayName: z.string(),
  registered: z.boolean(),
  /** Whether this version implements it (a listed provider without an implementation runs nothing). */
  implemented: z.boolean(),
  unavailable: z.string().nullable(),
  capabilities: z.record(z.string(), z.unknown()),
  /** Its pools' default suspend config (the descriptor's, under `providers.<id>.suspend_config`). */
  suspend: z.record(z.string(), z.unknown()),
});

export const Token = z.looseObject({
  id: z.string(),
  pool: z.string(),
  poolId: z.string(),
  kind: z.string(),
  description: z.string(),
  status: z.enum(['active', 'rotating', 'revoked', 'expired', 'used']),
  expiresAt: nullableMs,
  revokedAt: nullableMs,
  usedAt: nullableMs,
  useCount: z.number(),
  createdAt: ms,
});
/** A token with its secret: shown once, at creation or rotation. */
export const TokenWithSecret = Token.extend({ token: z.string(), rotatedFrom: z.string().optional() });
export const ExternalRegistration = z.looseObject({
  token: z.string(),
  tokenId: z.string(),
  pool: z.string(),
  expiresAt: ms,
  labels,
  /** The agent command line to run on the machine (shell-quoted). */
  command: z.string(),
  argv: z.array(z.string()),
});

export const CostEvent = z.looseObject({
  id: z.string(),
  runnerId: z.string().nullable(),
  sessionId: z.string().nullable(),
  poolId: z.string().nullable(),
  providerId: z.string(),
  billingModel: z.string(),
  startedAt: ms,
  endedAt: ms,
  seconds: z.number(),
  /** Runner events: what the sandbox was given, as its provider recorded it (e.g. `{ vcpus, memoryMb }`). */
  resources: z.record(z.string(), z.unknown()).optional(),
});
export const CostListing = z.looseObject({
  items: z.array(CostEvent),
  totalSecondsByBillingModel: z.record(z.string(), z.number()),
});

export const Health = z.looseObject({ ok: z.boolean(), version: z.string() });
export const Liveness = z.looseObject({ ok: z.literal(true), version: z.string(), uptimeSeconds: z.number() });
const ReadinessCheck = z.looseObject({ ok: z.boolean(), detail: z.string() });
export const Readiness = z.looseObject({
  ok: z.boolean(),
  checks: z.looseObject({ store: ReadinessCheck, migrations: ReadinessCheck, gateway: ReadinessCheck }),
});
export const DashboardLink = z.looseObject({ code: z.string(), path: z.string(), expiresAt: ms });
export const DashboardLogin = z.looseObject({
  token: z.string(),
  tokenId: z.string(),
  role: z.string(),
  expiresAt: ms,
});
export const Deleted = z.looseObject({ deleted: z.string() });
export const Org = z.looseObject({ id: z.string(), name: z.string(), createdAt: z.number(), default: z.boolean() });
export const Project = z.looseObject({ id: z.string(), orgId: z.string(), name: z.string(), createdAt: z.number() });
export const Member = z.looseObject({
  id: z.string(),
  orgId: z.string(),
  name: z.string(),
  role: z.string(),
  createdAt: z.number(),
});

/** `{ items: [...] }`: every listing. */
export function listing<T extends z.ZodType>(item: T) {
  return z.looseObject({ items: z.array(item) });
}

export type Session = z.infer<typeof Session>;
export type SessionWithTasks = z.infer<typeof SessionWithTasks>;
export type Task = z.infer<typeof Task>;
export type Runner = z.infer<typeof Runner>;
export type PoolStatus = z.infer<typeof PoolStatus>;
export type PoolDetail = z.infer<typeof PoolDetail>;
export type Profile = z.infer<typeof Profile>;
export type AgentCard = z.infer<typeof AgentCard>;
export type LogLine = z.infer<typeof LogLine>;
export type LogPage = z.infer<typeof LogPage>;
export type Explain = z.infer<typeof Explain>;
export type PlacementDecision = z.infer<typeof PlacementDecision>;
export type DryRunResult = z.infer<typeof DryRunResult>;
export type DashboardLink = z.infer<typeof DashboardLink>;
export type Readiness = z.infer<typeof Readiness>;
export type Org = z.infer<typeof Org>;
export type Project = z.infer<typeof Project>;
export type Member = z.infer<typeof Member>;
