/**
 * @module Work on a session's workspace outside its tasks: exec, diff and push, sent to the runner
 * holding the session (`session.op`) and answered by `session.op.output` frames and one
 * `session.op.done`. Output is collected up to a bound per stream (the rest is dropped and the
 * answer says so). The runner must be connected to this server replica; an op whose runner does
 * not answer in time fails with that reason.
 */
import { Conflict, InvalidRequest } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { isTerminalSession } from '../core/states.js';
import type { RunnerMessage, ServerMessage, SessionOp } from '../protocol/messages.js';
import type { OrgScope } from '../store/index.js';
import type { ServerContext } from './context.js';
import { repoAssignment } from './git-credentials.js';
import { assignmentSandbox } from './pool-sandbox.js';
import { getSession } from './session-common.js';

/** The most output kept per stream of one op (UTF-16 units: characters, about). */
export const OP_OUTPUT_LIMIT = 8 * 1024 * 1024;

export interface OpResult {
  exitCode: number | null;
  error: string | null;
  commit: string | null;
  stdout: string;
  stderr: string;
  truncated: boolean;
}

interface Pending {
  runnerId: string;
  result: OpResult;
  resolve(r: OpResult): void;
  timer: NodeJS.Timeout;
  /** Streams past the output bound. */
  full: Set<'stdout' | 'stderr'>;
  /** Given each output chunk as it comes (then nothing is collected into the result). */
  onOutput: OnOutput | undefined;
  /** Input characters sent and not yet acknowledged by the runner, and who waits for room. */
  inputInFlight: number;
  inputRoom: (() => void) | null;
}

/**
 * A streamed op's output, chunk by chunk, in order. A promise it returns holds the runner's
 * credit for that chunk until it settles (resolve it once the client's socket took the chunk):
 * that is how a slow client slows the runner down (see ../agent/op-flow.ts).
 */
export type OnOutput = (stream: 'stdout' | 'stderr', data: string) => undefined | Promise<unknown>;

/** What the caller of a running op can do to it (a `pty` op's terminal size). */
export interface OpControl {
  resize(cols: number, rows: number): void;
}

/** Input characters (base64) sent to a runner and not yet acknowledged before the pump waits. */
export const INPUT_WINDOW = 4 * 1024 * 1024;

export type OpRequest =
  | { kind: 'exec'; argv: string[]; timeoutMs: number }
  | { kind: 'diff' }
  | { kind: 'push'; branch: string; message: string; author: { name: string; email: string } }
  | { kind: 'files.get'; path: string }
  | { kind: 'files.put'; path: string; name: string }
  | { kind: 'pty'; argv: string[]; cols: number; rows: number };

/** How an op's output and input travel besides the result (both optional). */
export interface OpStreams {
  /** Given each output chunk as it comes (then nothing is collected into the result). */
  onOutput?: OnOutput;
  /** The bytes a `files.put` unpacks (or a terminal's keystrokes), sent in `session.op.input` frames. */
  input?: AsyncIterable<Buffer>;
  /** Aborted when the client goes away or is interrupted: the runner stops the op (its `done` still ends it). */
  signal?: AbortSignal;
  /** Called once the op is sent to its runner, with what the caller may do to it while it runs. */
  onStart?: (control: OpControl) => void;
}

/** Raw bytes per input frame (base64 in the frame: 4/3 of this, under its 1 MiB bound). */
const INPUT_CHUNK = 512 * 1024;

const BRANCH = /^(?!-)(?!.*\.\.)(?!.*\/\/)(?!.*@\{)(?!.*\.lock$)(?!\/)(?!.*\/$)[A-Za-z0-9._/-]{1,255}$/;

export class SessionOps {
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly ctx: ServerContext,
    private readonly links: { send(runnerId: string, msg: ServerMessage): boolean },
  ) {}

  /**
   * Runs `req` on the runner of session `sessionId` (of `org`); resolves when the runner is done.
   * With `onOutput`, the output goes there as it comes instead of into the result.
   */
  async run(org: OrgScope, sessionId: string, req: OpRequest, streams: OpStreams = {}): Promise<OpResult> {
    const { onOutput, input, signal, onStart } = streams;
    const session = await getSession(this.ctx, org, sessionId);
    if (isTerminalSession(session.state) || !session.runnerId)
      throw new Conflict(
        `session ${session.id} is ${session.state} and holds no runner; nothing runs its workspace now`,
        {
          hint: 'a session holds its runner while it is active or idle (suspended sessions: resume it first)',
        },
      );
    // Where the session's tasks run in a nested sandbox, its ops run in one made the same way.
    const pool = session.poolId ? await this.ctx.store.pools.byId(session.poolId) : null;
    const sandbox = assignmentSandbox(pool, session.request.egress);
    let op: SessionOp;
    if (req.kind === 'push') {
      if (!BRANCH.test(req.branch))
        throw new InvalidRequest(`branch ${JSON.stringify(req.branch)} is not a valid branch name`);
      if (!session.request.repo)
        throw new InvalidRequest(`session ${session.id} has no repository to push to`, {
          hint: 'create the session with --repo',
        });
      op = { ...req, repo: await repoAssignment(this.ctx, org, session.request.repo) };
    } else op = req;
    const ref = newId('op');
    const runnerId = session.runnerId;
    const waitMs =
      (req.kind === 'exec'
        ? req.timeoutMs
        : req.kind === 'pty'
          ? 7 * 24 * 3600_000
          : req.kind.startsWith('files.')
            ? 60 * 60_000
            : 5 * 60_000) + 30_000;
    return new Promise<OpResult>((resolve) => {
      const result: OpResult = { exitCode: null, error: null, commit: null, stdout: '', stderr: '', truncated: false };
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        resolve({ ...result, error: `the runner of session ${session.id} did not answer within ${waitMs / 1000}s` });
      }, waitMs);
      const p: Pending = {
        runnerId,
        result,
        resolve,
        timer,
        full: new Set(),
        onOutput,
        inputInFlight: 0,
        inputRoom: null,
      };
      this.pending.set(ref, p);
      const msg = { type: 'session.op' as const, ref, sessionId: session.id, op, ...(sandbox ? { sandbox } : {}) };
      if (!this.links.send(runnerId, msg)) {
        clearTimeout(timer);
        this.pending.delete(ref);
        resolve({ ...result, error: `the runner of session ${session.id} is not connected to this server` });
        return;
      }
      const cancel = () => {
        if (this.pending.has(ref)) this.links.send(runnerId, { type: 'session.op.cancel', ref });
      };
      if (signal?.aborted) cancel();
      else signal?.addEventListener('abort', cancel, { once: true });
      onStart?.({
        resize: (cols, rows) => {
          if (this.pending.has(ref)) this.links.send(runnerId, { type: 'session.op.resize', ref, cols, rows });
        },
      });
      if (input) void this.pump(ref, p, input);
    }).then((r) => {
      if (r.error) r.error = this.ctx.redactor.redact(r.error);
      return r;
    });
  }

  /**
   * Sends `input` to the runner of op `ref` (until the op ends), then the `eof` frame. At most
   * {@link INPUT_WINDOW} characters are unacknowledged: past that it stops reading `input` (so
   * its socket is not read either) until the runner has taken some in.
   */
  private async pump(ref: string, p: Pending, input: AsyncIterable<Buffer>): Promise<void> {
    const frame = (data: Buffer, eof: boolean) => {
      const text = data.toString('base64');
      p.inputInFlight += text.length;
      this.links.send(p.runnerId, { type: 'session.op.input', ref, data: text, eof });
    };
    const room = () =>
      p.inputInFlight <= INPUT_WINDOW || !this.pending.has(ref)
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            p.inputRoom = resolve;
          });
    try {
      for await (const chunk of input) {
        for (let i = 0; i < chunk.length; i += INPUT_CHUNK) {
          await room();
          if (!this.pending.has(ref)) return;
          frame(chunk.subarray(i, i + INPUT_CHUNK), false);
        }
      }
    } catch (e: unknown) {
      // The upload broke off: the runner's tar sees the archive end early and says so in the op's error.
      this.ctx.log.warn({ err: e, ref }, 'session op: reading the upload failed');
    }
    if (this.pending.has(ref)) frame(Buffer.alloc(0), true);
  }

  /** Input characters of op `ref` sent and not yet acknowledged (tests, diagnostics). */
  inputInFlight(ref: string): number {
    return this.pending.get(ref)?.inputInFlight ?? 0;
  }

  /** A runner's `session.op.output` or `session.op.done`; frames of another runner's op are ignored. */
  onMessage(
    runnerId: string,
    msg: Extract<RunnerMessage, { type: 'session.op.output' | 'session.op.done' | 'session.op.input.ack' }>,
  ): void {
    const p = this.pending.get(msg.ref);
    if (!p || p.runnerId !== runnerId) return;
    if (msg.type === 'session.op.input.ack') {
      p.inputInFlight = Math.max(0, p.inputInFlight - msg.bytes);
      if (p.inputRoom && p.inputInFlight <= INPUT_WINDOW / 2) {
        const go = p.inputRoom;
        p.inputRoom = null;
        go();
      }
      return;
    }
    if (msg.type === 'session.op.output') {
      // The runner's credit for the chunk comes back once it was passed on (./../agent/op-flow.ts).
      const ack = () => {
        if (this.pending.has(msg.ref))
          this.links.send(runnerId, { type: 'session.op.ack', ref: msg.ref, bytes: msg.data.length });
      };
      if (p.onOutput) {
        const passed = p.onOutput(msg.stream, msg.data);
        if (passed) passed.then(ack, ack);
        else ack();
        return;
      }
      ack();
      // Kept whole up to the bound, then nothing more of that stream (never a gap in the middle).
      const r = p.result;
      if (p.full.has(msg.stream)) return;
      const room = OP_OUTPUT_LIMIT - r[msg.stream].length;
      r[msg.stream] += msg.data.length > room ? msg.data.slice(0, room) : msg.data;
      if (msg.data.length > room) {
        p.full.add(msg.stream);
        r.truncated = true;
      }
      return;
    }
    clearTimeout(p.timer);
    this.pending.delete(msg.ref);
    p.inputRoom?.();
    p.resolve({ ...p.result, exitCode: msg.exitCode, error: msg.error, commit: msg.commit });
  }

  /** Runner `runnerId` disconnected: its ops end now with that reason (their output stops here). */
  runnerGone(runnerId: string): void {
    for (const [ref, p] of this.pending) {
      if (p.runnerId !== runnerId) continue;
      clearTimeout(p.timer);
      this.pending.delete(ref);
      p.inputRoom?.();
      p.resolve({ ...p.result, error: 'the runner of the session disconnected before the command ended' });
    }
  }

  close(): void {
    for (const [ref, p] of this.pending) {
      clearTimeout(p.timer);
      p.inputRoom?.();
      p.resolve({ ...p.result, error: 'the server is stopping' });
      this.pending.delete(ref);
    }
  }
}
