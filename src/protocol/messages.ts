/**
 * @module The runner ⇄ server protocol: one zod schema module shared by the gateway and
 * `marionette-agent`, validated on both sides. JSON text frames over a WebSocket the runner dials
 * (TCP or the gateway's unix socket). The first frame from the runner is `hello`, carrying
 * `protocol`; the server answers `welcome` or `error` and closes.
 *
 * Guarantees:
 * - Log lines carry a per-task `seq` starting at 1. The server stores them idempotently and acks
 *   the highest contiguous seq it has stored (every line up to it is stored); after a reconnect
 *   `welcome.resume` tells the runner where to resend from, so no line is lost or doubled. An ack
 *   with `resend` means the server could not store what followed: send it again. Lines for a task
 *   that is no longer running (finished, lost, cancelled) are answered with `logs.refused`.
 * - Flow control: the runner keeps a bounded window of unacknowledged lines and pauses the task's
 *   pipes when it is full; the server handles heartbeats and control frames apart from log
 *   batches, and stops reading a socket whose log batches are backed up.
 * - A line is any string; bytes that were not valid UTF-8 travel as U+DC80–U+DCFF
 *   (`src/agent/utf8.ts`).
 * - A runner re-attaches to its task after a reconnect (`hello.task`).
 * - Every server command (`task.cancel`, `task.stop`, `drain`, `suspend`, `resume`) is answered
 *   by an `ack` with the command's `ref`.
 * - Every lease renewal (`hello`, `heartbeat`) is answered by `lease` once it is stored, in order,
 *   so the runner knows how long it may keep running its task unconfirmed (src/agent/fence.ts).
 *   Added within protocol 1: an agent that does not know `lease` ignores it, and an agent that
 *   gets none keeps its task running (no self-fencing).
 */
import { z } from 'zod';
import { OUTCOME_KINDS } from '../core/types.js';

/**
 * 2: `task.assign` carries `outcome` and `timeoutMs`, `task.finished` carries `timedOut` and the
 * agent's `outcome` (a version-1 runner would refuse those assignments' unknown keys, so it is told
 * to upgrade at hello instead).
 */
export const PROTOCOL_VERSION = 2;

/** POST /v1/register on the gateway: exchanges a registration token for a runner credential. */
export const RegisterRequest = z.strictObject({
  protocol: z.literal(PROTOCOL_VERSION),
  token: z.string().min(1),
  /** Set by managed providers (the runner row already exists); omitted by pool/external runners. */
  runnerId: z.string().nullable().optional(),
  pool: z.string().nullable().optional(),
  name: z.string().min(1).max(200),
  labels: z.record(z.string(), z.string()).default({}),
  agentVersion: z.string(),
});
export type RegisterRequest = z.infer<typeof RegisterRequest>;

export const RegisterResponse = z.strictObject({
  runnerId: z.string(),
  credential: z.string(),
  poolName: z.string(),
  heartbeatIntervalMs: z.number(),
});
export type RegisterResponse = z.infer<typeof RegisterResponse>;

const LogEntry = z.strictObject({
  seq: z.number().int().positive(),
  stream: z.enum(['stdout', 'stderr', 'system']),
  line: z.string(),
  ts: z.number(),
});
export type LogEntry = z.infer<typeof LogEntry>;

/**
 * What the agent itself reported about a task, read from its JSON events by the card's outcome
 * reader on the runner (src/agent/outcome/). `status` 'unknown': the agent never reported a result.
 */
export const AgentOutcome = z.strictObject({
  status: z.enum(['succeeded', 'failed', 'unknown']),
  error: z.string().max(8192).nullable(),
  conversationId: z.string().max(512).nullable(),
  permissionDenials: z
    .array(
      z.strictObject({ tool: z.string().max(256), detail: z.string().max(1024), id: z.string().max(256).nullable() }),
    )
    .max(50),
  usage: z
    .strictObject({
      inputTokens: z.number().min(0),
      outputTokens: z.number().min(0),
      cacheReadTokens: z.number().min(0),
      cacheWriteTokens: z.number().min(0),
    })
    .nullable(),
  costUsd: z.number().min(0).nullable(),
  model: z.string().max(256).nullable(),
  summary: z.string().max(8192).nullable(),
});
export type AgentOutcome = z.infer<typeof AgentOutcome>;

/** Runner → server. */
export const RunnerMessage = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('hello'),
    protocol: z.number().int(),
    runnerId: z.string(),
    agentVersion: z.string(),
    /** The task this runner is running or has finished but not yet had acknowledged. */
    task: z
      .strictObject({
        taskId: z.string(),
        finished: z
          .strictObject({
            exitCode: z.number().int().nullable(),
            signal: z.string().nullable(),
            error: z.string().nullable(),
            cancelled: z.boolean(),
            timedOut: z.boolean().default(false),
            outcome: AgentOutcome.nullable().default(null),
          })
          .nullable(),
        lastSeq: z.number().int().min(0),
      })
      .nullable(),
    /**
     * Sessions this runner holds a per-session workspace for (pool and external runners); the
     * server answers `session.ended` for each whose session ended or no longer exists.
     */
    workspaces: z.array(z.string().max(128)).max(1000).optional(),
    /** Nested sandbox runtimes this runner has (src/agent/sandbox/detect.ts), strongest first. */
    sandboxRuntimes: z
      .array(z.enum(['gvisor', 'bubblewrap']))
      .max(8)
      .optional(),
  }),
  z.strictObject({ type: z.literal('heartbeat') }),
  z.strictObject({ type: z.literal('task.started'), taskId: z.string(), pid: z.number().int().nullable() }),
  z.strictObject({ type: z.literal('logs'), taskId: z.string(), lines: z.array(LogEntry).min(1).max(5000) }),
  z.strictObject({
    type: z.literal('task.finished'),
    taskId: z.string(),
    exitCode: z.number().int().nullable(),
    signal: z.string().nullable(),
    /** A failure before or outside the process (binary missing, kit install failed...). */
    error: z.string().nullable(),
    cancelled: z.boolean(),
    /** The runner killed the task at its timeout. */
    timedOut: z.boolean().default(false),
    /** What the agent reported (cards with an outcome reader), else null. */
    outcome: AgentOutcome.nullable().default(null),
    lastSeq: z.number().int().min(0),
  }),
  z.strictObject({ type: z.literal('ack'), ref: z.string(), ok: z.boolean(), message: z.string().optional() }),
  /**
   * Connections a task's egress proxy refused (nested sandboxes with an allow list), batched:
   * each host/port/method once with how many times since the last report.
   */
  z.strictObject({
    type: z.literal('egress.denied'),
    taskId: z.string(),
    denials: z
      .array(
        z.strictObject({
          host: z.string().max(300),
          port: z.number().int().min(0).max(65535),
          method: z.string().max(32),
          at: z.number(),
          count: z.number().int().positive(),
        }),
      )
      .min(1)
      .max(100),
  }),
  /** The runner saved the credential `welcome.credential` gave it: the server retires the old one. */
  z.strictObject({ type: z.literal('credential.saved') }),
  /** How far a `workspace.snapshot` (ref) has got: entries and plain bytes seen, encoded bytes sent. */
  z.strictObject({
    type: z.literal('workspace.progress'),
    ref: z.string().max(128),
    files: z.number().int().min(0),
    bytes: z.number().int().min(0),
    bytesNew: z.number().int().min(0),
  }),
  /**
   * A `workspace.snapshot` (ref) ended: `ok` with the manifest's address once it and every chunk
   * are in the store, else `error` (nothing the server keeps points at what was sent).
   */
  z.strictObject({
    type: z.literal('workspace.snapshotted'),
    ref: z.string().max(128),
    sessionId: z.string().max(128),
    ok: z.boolean(),
    manifestId: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .nullable(),
    files: z.number().int().min(0),
    bytes: z.number().int().min(0),
    bytesNew: z.number().int().min(0),
    error: z.string().max(8192).nullable(),
  }),
  /** The session's repository is cloned and checked out at `baseCommit` (sent once, after the clone). */
  z.strictObject({
    type: z.literal('repo.ready'),
    taskId: z.string(),
    sessionId: z.string(),
    baseCommit: z.string().regex(/^[0-9a-f]{40,64}$/),
    ref: z.string().max(512).nullable(),
  }),
  /** Output of a `session.op` (exec, diff, push), in order, UTF-8 text chunks. */
  z.strictObject({
    type: z.literal('session.op.output'),
    ref: z.string(),
    stream: z.enum(['stdout', 'stderr']),
    data: z.string().max(1 << 20),
  }),
  /** A `session.op` ended: the command's exit code, or why it could not run; `commit` for a push. */
  z.strictObject({
    type: z.literal('session.op.done'),
    ref: z.string(),
    exitCode: z.number().int().nullable(),
    error: z.string().max(65536).nullable(),
    commit: z.string().max(64).nullable(),
  }),
  /** `bytes` more of a running op's input (`session.op.input` data, base64 characters) were taken in: the server may send that much more. */
  z.strictObject({ type: z.literal('session.op.input.ack'), ref: z.string(), bytes: z.number().int().min(0) }),
]);
export type RunnerMessage = z.infer<typeof RunnerMessage>;

/** A task's nested sandbox (see src/agent/sandbox/ and docs/isolation.md). */
export const TaskSandbox = z.strictObject({
  runtime: z.enum(['auto', 'gvisor', 'bubblewrap']),
  /**
   * The task's egress (the pool's `network.egress`, else `sandbox.network`, narrowed by the
   * session's): none, the runner's network (`host`), or only the listed destinations through an
   * egress proxy the runner starts for the task.
   */
  network: z
    .union([z.enum(['none', 'host']), z.strictObject({ allow: z.array(z.string().min(1).max(300)).max(1000) })])
    .default('none'),
  binds: z
    .array(z.strictObject({ path: z.string().min(1), rw: z.boolean().default(false) }))
    .max(64)
    .default([]),
  limits: z
    .strictObject({
      memoryBytes: z.number().int().positive().nullable().default(null),
      cpus: z.number().positive().nullable().default(null),
      pids: z.number().int().positive().nullable().default(null),
    })
    .default({ memoryBytes: null, cpus: null, pids: null }),
});
export type TaskSandbox = z.infer<typeof TaskSandbox>;

/** A git credential as it travels to the runner (inside the assignment only, never in a log line). */
export const GitCredentialWire = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('token'), username: z.string().max(256), secret: z.string().min(1).max(16384) }),
  z.strictObject({ kind: z.literal('ssh-key'), secret: z.string().min(1).max(65536) }),
]);
export type GitCredentialWire = z.infer<typeof GitCredentialWire>;

export const RepoAssignment = z.strictObject({
  url: z.string().min(1).max(4096),
  /** Branch, tag or commit; null: the remote's default branch. */
  ref: z.string().min(1).max(512).nullable(),
  /** Shallow clone of this many commits; null: all of them. */
  depth: z.number().int().positive().nullable(),
  /** Every branch and tag too. */
  fullHistory: z.boolean(),
  credential: GitCredentialWire.nullable(),
});
export type RepoAssignment = z.infer<typeof RepoAssignment>;

const Commands = z.array(z.string().max(65536)).max(256);
export const ToolchainAssignment = z.strictObject({
  kits: z.array(z.string().max(200)).max(64),
  os: z.string().max(64),
  installCommands: Commands,
  postAcquire: Commands,
  preRelease: Commands,
  env: z.record(z.string(), z.string()),
  units: z
    .array(
      z.strictObject({
        ref: z.string().max(200),
        os: z.array(z.string().max(64)).max(16),
        detect: z.string().max(65536).nullable(),
        installCommands: Commands,
        postAcquire: Commands,
        preRelease: Commands,
      }),
    )
    .max(64),
});
export type ToolchainAssignment = z.infer<typeof ToolchainAssignment>;

export const TaskAssignment = z.strictObject({
  taskId: z.string(),
  sessionId: z.string(),
  agent: z.string(),
  /** argv to run (already rendered from the agent card's template). */
  command: z.array(z.string()).min(1),
  env: z.record(z.string(), z.string()),
  /** Workspace directory (absolute on the runner); null = the runner's default workspace. */
  workspace: z.string().nullable(),
  /** Kits' installCommands/postAcquire, run before the command. */
  setup: z.array(z.string()).default([]),
  /** Resend logs after this seq (0 for a fresh task). */
  resumeAfterSeq: z.number().int().min(0),
  /** How the agent's outcome is read from its stdout (the card's `outcome`). */
  outcome: z.enum(OUTCOME_KINDS).default('exit'),
  /** Kill the task (its process group) this long after it started; null = no limit. */
  timeoutMs: z.number().int().positive().nullable().default(null),
  /** Per-task output limits (stdout + stderr); absent = the agent's defaults. */
  outputLimits: z.strictObject({ lines: z.number().int().positive(), bytes: z.number().int().positive() }).optional(),
  /** Run the commands in a nested sandbox the runner makes (pools with `sandbox_mode: runner-creates-sandbox`). */
  sandbox: TaskSandbox.optional(),
  /**
   * The session's newest snapshot in the workspace store: a runner whose workspace for the
   * session is empty (a resume or fork landed here) restores it before the task; one that still
   * holds the files (its own, or storage its provider kept) keeps them.
   */
  restore: z
    .strictObject({ snapshotId: z.string().max(128), manifestId: z.string().regex(/^[0-9a-f]{64}$/) })
    .nullable()
    .optional(),
  /** The session's repository: cloned into the workspace before the first task (src/agent/repo.ts). */
  repo: RepoAssignment.optional(),
  /** The session's composed kits (src/core/kits.ts), run by the runner (src/agent/kits.ts). */
  toolchain: ToolchainAssignment.optional(),
});
export type TaskAssignment = z.infer<typeof TaskAssignment>;

/** A `session.op`: run a command in the workspace, print its changes, or commit and push them. */
export const SessionOp = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('exec'),
    argv: z.array(z.string()).min(1).max(4096),
    timeoutMs: z.number().int().positive(),
  }),
  z.strictObject({ kind: z.literal('diff') }),
  z.strictObject({
    kind: z.literal('push'),
    branch: z.string().min(1).max(255),
    message: z.string().min(1).max(65536),
    author: z.strictObject({ name: z.string().min(1).max(256), email: z.string().min(1).max(256) }),
    repo: RepoAssignment,
  }),
  /** `mctl sessions cp ID:PATH ...`: `path` (in the workspace) as a tar, base64 in `stdout` output frames. */
  z.strictObject({ kind: z.literal('files.get'), path: z.string().min(1).max(4096) }),
  /**
   * `mctl sessions cp ... ID:PATH`: a tar holding one top entry `name`, sent in `session.op.input`
   * frames, unpacked into `path` when that is a directory, else as `path` itself.
   */
  z.strictObject({
    kind: z.literal('files.put'),
    path: z.string().min(1).max(4096),
    name: z.string().min(1).max(255),
  }),
  /** `mctl sessions exec -it`: `argv` on a pseudo-terminal of `cols` x `rows`; its output in `stdout` frames, keystrokes in `session.op.input`. */
  z.strictObject({
    kind: z.literal('pty'),
    argv: z.array(z.string()).min(1).max(4096),
    cols: z.number().int().min(1).max(1000),
    rows: z.number().int().min(1).max(1000),
  }),
]);
export type SessionOp = z.infer<typeof SessionOp>;

/** Server → runner. */
export const ServerMessage = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('welcome'),
    protocol: z.number().int(),
    runnerId: z.string(),
    heartbeatIntervalMs: z.number(),
    /** For the task the runner reported in hello: resend logs after `ackedSeq`; `keep` false = stop it. */
    resume: z.strictObject({ taskId: z.string(), ackedSeq: z.number().int().min(0), keep: z.boolean() }).nullable(),
    /**
     * A new credential for this runner (rotated on every hello). The runner saves it, then sends
     * `credential.saved`; until the server has that (or sees the new one presented), the old one
     * keeps working, so a crash between receiving and saving never locks the runner out.
     */
    credential: z.string().optional(),
  }),
  z.strictObject({ type: z.literal('task.assign'), task: TaskAssignment }),
  /** Every line up to `seq` is stored; `resend`: storing what followed failed, send it again. */
  z.strictObject({
    type: z.literal('logs.ack'),
    taskId: z.string(),
    seq: z.number().int().min(0),
    resend: z.boolean().optional(),
  }),
  /** The task no longer takes lines (it finished, was lost or cancelled, or is not this runner's): stop it. */
  z.strictObject({ type: z.literal('logs.refused'), taskId: z.string(), state: z.string(), message: z.string() }),
  /** The lease was renewed: it lasts `leaseMs` from when the runner sent the hello/heartbeat that renewed it. */
  z.strictObject({ type: z.literal('lease'), leaseMs: z.number().int().positive() }),
  z.strictObject({ type: z.literal('task.finished.ack'), taskId: z.string() }),
  z.strictObject({ type: z.literal('task.cancel'), ref: z.string(), taskId: z.string() }),
  /** The task was given up on (lost and re-queued elsewhere): kill it, report nothing more. */
  z.strictObject({ type: z.literal('task.stop'), ref: z.string(), taskId: z.string() }),
  z.strictObject({ type: z.literal('drain'), ref: z.string() }),
  z.strictObject({ type: z.literal('suspend'), ref: z.string() }),
  z.strictObject({ type: z.literal('resume'), ref: z.string() }),
  z.strictObject({ type: z.literal('shutdown'), ref: z.string(), reason: z.string() }),
  /** The session ended (or no longer exists): the runner removes its per-session workspace. */
  z.strictObject({ type: z.literal('session.ended'), ref: z.string(), sessionId: z.string() }),
  z.strictObject({ type: z.literal('error'), code: z.string(), message: z.string() }),
  /**
   * Snapshot the session's workspace into the store now, over the gateway's `/v1/cas/` routes
   * with the runner credential (only chunks the store lacks are sent), reporting
   * `workspace.progress` and then `workspace.snapshotted` with the same ref.
   */
  z.strictObject({ type: z.literal('workspace.snapshot'), ref: z.string().max(128), sessionId: z.string().max(128) }),
  /** Work on a session's workspace outside its tasks (src/agent/session-ops.ts): answered by `session.op.*`. */
  z.strictObject({
    type: z.literal('session.op'),
    ref: z.string(),
    sessionId: z.string(),
    op: SessionOp,
    /** The session's nested sandbox (runner-creates-sandbox pools): the op runs inside one made like its tasks'. */
    sandbox: TaskSandbox.optional(),
  }),
  /** Input of a running `files.put` op: base64 bytes, in order; `eof` on the last frame. */
  z.strictObject({
    type: z.literal('session.op.input'),
    ref: z.string(),
    data: z.string().max(1 << 20),
    eof: z.boolean(),
  }),
  /** Stop op `ref` now (its client went away or was interrupted): its process group is killed; `done` still follows. */
  z.strictObject({ type: z.literal('session.op.cancel'), ref: z.string() }),
  /**
   * Flow control: `bytes` more characters of op `ref`'s output were passed on to its client. A
   * runner keeps at most a window of output unacknowledged and pauses the source past it.
   */
  z.strictObject({ type: z.literal('session.op.ack'), ref: z.string(), bytes: z.number().int().min(0) }),
  /** The terminal of a `pty` op was resized. */
  z.strictObject({
    type: z.literal('session.op.resize'),
    ref: z.string(),
    cols: z.number().int().min(1).max(1000),
    rows: z.number().int().min(1).max(1000),
  }),
]);
export type ServerMessage = z.infer<typeof ServerMessage>;

/** Formats the first zod issue as `field: message` for protocol errors. */
export function describeProtocolError(error: z.ZodError): string {
  const i = error.issues[0];
  if (!i) return 'invalid message';
  return `${i.path.join('.') || 'message'}: ${i.message}`;
}

const LOG_STREAMS = new Set(['stdout', 'stderr', 'system']);
const LOG_KEYS = new Set(['seq', 'stream', 'line', 'ts']);

/**
 * The `logs` frame checked by hand, to the letter of its schema above: it is most of what a runner
 * sends (up to 100,000 lines a second), and the generic validator cost several times the JSON parse.
 * Returns null when the frame is valid, else the error in `describeProtocolError`'s form.
 */
function checkLogsFrame(raw: Record<string, unknown>): string | null {
  for (const k of Object.keys(raw))
    if (k !== 'type' && k !== 'taskId' && k !== 'lines') return `message: Unrecognized key: "${k}"`;
  if (typeof raw.taskId !== 'string') return 'taskId: expected string';
  const lines = raw.lines;
  if (!Array.isArray(lines)) return 'lines: expected array';
  if (lines.length < 1 || lines.length > 5000) return 'lines: expected between 1 and 5000 lines';
  for (let i = 0; i < lines.length; i++) {
    const e = lines[i] as Record<string, unknown> | null;
    if (typeof e !== 'object' || e === null || Array.isArray(e)) return `lines.${i}: expected object`;
    const { seq, stream, line, ts } = e;
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1)
      return `lines.${i}.seq: expected a positive integer`;
    if (typeof stream !== 'string' || !LOG_STREAMS.has(stream))
      return `lines.${i}.stream: expected stdout, stderr or system`;
    if (typeof line !== 'string') return `lines.${i}.line: expected string`;
    if (typeof ts !== 'number' || !Number.isFinite(ts)) return `lines.${i}.ts: expected number`;
    if (Object.keys(e).length !== 4)
      for (const k of Object.keys(e)) if (!LOG_KEYS.has(k)) return `lines.${i}: Unrecognized key: "${k}"`;
  }
  return null;
}

/** Parses a frame; returns a readable error instead of throwing. */
export function parseFrame<T>(
  schema: z.ZodType<T>,
  text: string,
): { ok: true; value: T } | { ok: false; error: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, error: 'frame is not valid JSON' };
  }
  if ((schema as unknown) === RunnerMessage && (raw as { type?: unknown } | null)?.type === 'logs') {
    const error = checkLogsFrame(raw as Record<string, unknown>);
    return error ? { ok: false, error } : { ok: true, value: raw as T };
  }
  const r = schema.safeParse(raw);
  return r.success ? { ok: true, value: r.data } : { ok: false, error: describeProtocolError(r.error) };
}

/** Registration errors the agent shows the operator, one code each. */
export type RegisterErrorCode =
  | 'token_unknown'
  | 'token_expired'
  | 'token_revoked'
  | 'token_used'
  | 'pool_mismatch'
  | 'labels_rejected'
  | 'pool_full'
  | 'bad_request'
  | 'protocol_mismatch';
