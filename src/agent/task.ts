/**
 * @module Runs one task: optional setup commands, then the agent's command, in its own process
 * group (so cancel kills everything it started), with stdout and stderr split into lines. Its
 * pipes can be paused (`pauseOutput`): the agent does so while the server has not acknowledged
 * enough of its output, so a task that prints faster than the server stores blocks in `write()`
 * instead of growing the agent's memory.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { EgressDenial } from '../egress/proxy.js';
import type { TaskEgress } from '../egress/runner.js';
import type { TaskAssignment } from '../protocol/messages.js';
import { kitEnv, prepareWorkspace } from './kits.js';
import { raiseOomScore } from './oom.js';
import { isRecordedGroup, parseTaskPid, signalGroup, writeTaskPid } from './procs.js';
import { type Launch, SandboxError, type SandboxHost, type SandboxRuntime } from './sandbox/index.js';
import { describeTaskNetwork, egressSummary, openTaskEgress } from './task-egress.js';
import { taskEnv } from './task-env.js';
import { Utf8StreamDecoder } from './utf8.js';

/**
 * The longest line shipped whole, in UTF-16 units: one agent JSON event is one line (a tool
 * result can be hundreds of KiB), so the cut is high; a longer line is still cut, so memory and
 * the protocol frame stay bounded (see LogShipper's batch bound).
 */
export const MAX_LINE = 1024 * 1024;

export interface TaskResult {
  exitCode: number | null;
  signal: string | null;
  error: string | null;
  cancelled: boolean;
  /** Killed at the assignment's `timeoutMs`. */
  timedOut?: boolean;
}

export interface TaskSink {
  line(stream: 'stdout' | 'stderr' | 'system', text: string): void;
  started(pid: number | null): void;
  /** A connection the task's egress proxy refused (nested sandboxes with an allow list). */
  egressDenied?(d: EgressDenial): void;
  /** Readies the workspace before any command (a restore from the store); returns why it could not, else null. */
  prepare?(): Promise<string | null>;
  /** The session's repository was cloned here, at `baseCommit`. */
  repoReady?(baseCommit: string, ref: string | null): void;
}

/**
 * Splits a byte stream into lines: decoded with a streaming UTF-8 decoder (a character split
 * across reads stays whole; invalid bytes are kept, see ./utf8.ts), `\r\n` counts as `\n`, and a
 * line still unfinished past MAX_LINE (1 MiB: one agent JSON event) is cut there (never inside a surrogate pair).
 */
export function lineSplitter(emit: (line: string) => void): { write(chunk: Buffer): void; end(): void } {
  const decoder = new Utf8StreamDecoder();
  let rest = '';
  const feed = (decoded: string) => {
    const text = rest + decoded;
    let start = 0;
    let i = text.indexOf('\n');
    while (i >= 0) {
      const end = i > start && text.charCodeAt(i - 1) === 13 ? i - 1 : i;
      emit(text.slice(start, end));
      start = i + 1;
      i = text.indexOf('\n', start);
    }
    rest = start ? text.slice(start) : text;
    while (rest.length > MAX_LINE) {
      const hi = rest.charCodeAt(MAX_LINE - 1);
      const cut = hi >= 0xd800 && hi <= 0xdbff ? MAX_LINE - 1 : MAX_LINE;
      emit(rest.slice(0, cut));
      rest = rest.slice(cut);
    }
  };
  return {
    write(chunk) {
      feed(decoder.write(chunk));
    },
    end() {
      feed(decoder.end());
      if (rest) emit(rest);
      rest = '';
    },
  };
}

export class RunningTask {
  private child: ChildProcess | null = null;
  private cancelled = false;
  private killTimer: NodeJS.Timeout | null = null;
  private timedOut = false;
  private outputPaused = false;
  /** Why the runner stopped the task itself (its output limit), if it did. */
  private stoppedBecause: string | null = null;
  /** The nested sandbox runtime the task's commands run in (assignment.sandbox), once resolved. */
  private runtime: SandboxRuntime | null = null;
  private launch: Launch | null = null;
  /** The task's egress in its nested sandbox (the proxy for an allow list), open while it runs. */
  private egress: TaskEgress | null = null;
  readonly done: Promise<TaskResult>;

  constructor(
    readonly assignment: TaskAssignment,
    private readonly workspace: string,
    private readonly sink: TaskSink,
    private readonly stateDir: string | null,
    private readonly sandbox: SandboxHost | null = null,
  ) {
    this.done = this.run();
  }

  private pidFile(): string | null {
    return this.stateDir ? join(this.stateDir, 'task.pid') : null;
  }

  private async run(): Promise<TaskResult> {
    try {
      return await this.runSteps();
    } finally {
      const e = this.egress;
      this.egress = null;
      if (e) {
        const summary = egressSummary(e);
        if (summary) this.sink.line('system', summary);
        await e.close();
      }
    }
  }

  private async runSteps(): Promise<TaskResult> {
    const a = this.assignment;
    mkdirSync(this.workspace, { recursive: true });
    const unready = await this.sink.prepare?.();
    if (unready) return { exitCode: null, signal: null, error: unready, cancelled: false };
    if (a.sandbox) {
      try {
        const host = this.sandbox;
        if (!host) throw new SandboxError('this runner cannot make nested sandboxes');
        this.runtime = host.resolve(a.sandbox.runtime);
        // An allow list: the egress proxy listens on a socket only the sandbox gets (the task's only way out).
        this.egress = await openTaskEgress(
          a.sandbox.network,
          () => host.egressSocket(),
          (d) => this.sink.egressDenied?.(d),
        );
        this.sink.line(
          'system',
          `running in a ${this.runtime} sandbox (network: ${describeTaskNetwork(a.sandbox.network)})`,
        );
      } catch (e: unknown) {
        return { exitCode: null, signal: null, error: (e as Error).message, cancelled: false };
      }
    }
    if (a.repo || a.toolchain) {
      // Kits installed, the repository cloned, postAcquire run (./kits.ts); a failure ends the task.
      const stop = await prepareWorkspace(a, this.workspace, {
        run: (cmd, where) => this.spawnOne(['bash', '-lc', cmd], false, where === 'host'),
        line: (text) => this.sink.line('system', text),
        cancelled: () => this.cancelled,
        repoReady: (commit, ref) => this.sink.repoReady?.(commit, ref),
        stateDir: this.stateDir,
      });
      if (stop) return stop;
    }
    for (const cmd of a.setup) {
      if (this.cancelled) break;
      this.sink.line('system', `$ ${cmd}`);
      const r = await this.spawnOne(['bash', '-lc', cmd], false);
      if (r.exitCode !== 0 || r.error)
        return { ...r, error: r.error ?? `setup command failed (exit ${r.exitCode}): ${cmd}` };
    }
    if (this.cancelled) return { exitCode: null, signal: null, error: null, cancelled: true };
    const limit = a.timeoutMs
      ? setTimeout(() => {
          this.timedOut = true;
          this.sink.line('system', `task timed out after ${Math.round(a.timeoutMs! / 1000)}s; killing it`);
          this.kill();
        }, a.timeoutMs)
      : null;
    const r = await this.spawnOne(a.command, true);
    if (limit) clearTimeout(limit);
    if (this.stoppedBecause) return { ...r, cancelled: false, error: this.stoppedBecause };
    if (!this.timedOut) return r;
    return { ...r, cancelled: false, timedOut: true, error: `timed out after ${Math.round(a.timeoutMs! / 1000)}s` };
  }

  /** The sandbox for one command (null when the task runs without one); throws SandboxError. */
  private prepare(argv: string[], env: Record<string, string>, step: string): Launch | null {
    const box = this.assignment.sandbox;
    if (!box) return null;
    if (!this.runtime || !this.sandbox || !this.egress)
      throw new SandboxError('the nested sandbox was not set up; the task does not run unsandboxed');
    return this.sandbox.launch({
      runtime: this.runtime,
      workspace: this.workspace,
      network: this.egress.network,
      binds: box.binds,
      limits: box.limits,
      argv,
      env,
      name: `${this.assignment.taskId}-${step}`,
    });
  }

  /** Runs one command of the task; `host`: on the runner itself, outside the task's sandbox (kit installs). */
  private spawnOne(argv: string[], main: boolean, host = false): Promise<TaskResult> {
    return new Promise((resolve) => {
      const [file, ...args] = argv;
      const a = this.assignment;
      const env = taskEnv(process.env, { ...kitEnv(a.toolchain, process.env), ...a.env }, this.workspace);
      let launch: Launch | null;
      try {
        launch = host ? null : this.prepare(argv, env, main ? 'main' : 'setup');
      } catch (e: unknown) {
        resolve({ exitCode: null, signal: null, error: (e as Error).message, cancelled: this.cancelled });
        return;
      }
      this.launch = launch;
      // A sandbox made ahead (src/agent/sandbox/warm.ts) is already running: it is sent the command.
      const warm = launch?.prepared;
      const child =
        warm?.child ??
        spawn(launch?.file ?? file!, launch?.args ?? args, {
          cwd: this.workspace,
          env: launch?.env ?? env,
          detached: true,
          stdio: ['ignore', 'pipe', 'pipe', ...(launch?.fds ?? [])],
        });
      for (const fd of launch?.fds ?? []) closeSync(fd);
      this.child = child;
      raiseOomScore(child.pid);
      let spawnError: string | null = null;
      const out = lineSplitter((l) => this.sink.line('stdout', l));
      const err = lineSplitter((l) => this.sink.line('stderr', l));
      child.stdout?.on('data', (c: Buffer) => out.write(c));
      child.stderr?.on('data', (c: Buffer) => err.write(c));
      if (this.outputPaused) this.pauseOutput(true);
      const spawned = () => {
        const pf = this.pidFile();
        if (pf && child.pid) writeTaskPid(pf, child.pid);
        if (main) this.sink.started(child.pid ?? null);
      };
      if (warm) {
        spawned();
        warm.go();
      } else child.once('spawn', spawned);
      child.once('error', (e: NodeJS.ErrnoException) => {
        spawnError =
          e.code === 'ENOENT'
            ? `agent binary ${JSON.stringify(file)} not found on PATH (${process.env.PATH ?? ''}); install it on the runner or pick another agent`
            : `could not start ${file}: ${e.message}`;
      });
      child.once('close', (code, signal) => {
        out.end();
        err.end();
        if (this.killTimer) clearTimeout(this.killTimer);
        const pf = this.pidFile();
        if (pf) rmSync(pf, { force: true });
        this.child = null;
        this.launch = null;
        const finished = launch ? launch.finish({ code, signal }) : Promise.resolve(null);
        void finished.then(
          (why) =>
            resolve({
              exitCode: spawnError ? null : code,
              signal: signal ?? null,
              error: spawnError ?? why,
              cancelled: this.cancelled,
            }),
          (e: unknown) =>
            resolve({
              exitCode: spawnError ? null : code,
              signal: signal ?? null,
              error: spawnError ?? `cleaning up the sandbox failed: ${(e as Error).message}`,
              cancelled: this.cancelled,
            }),
        );
      });
    });
  }

  /** The process group of the command running now (setup or main); null between commands and after. */
  get pgid(): number | null {
    return this.child?.pid ?? null;
  }

  /** Stops (or resumes) reading the task's stdout and stderr; a paused task blocks once its pipes fill. */
  pauseOutput(paused: boolean): void {
    this.outputPaused = paused;
    const c = this.child;
    if (!c) return;
    for (const s of [c.stdout, c.stderr]) {
      if (!s) continue;
      if (paused) s.pause();
      else s.resume();
    }
  }

  /** The runner stops the task itself (past its output limit): it ends `failed` with `message`. */
  stop(message: string): void {
    if (this.stoppedBecause || !this.child) return;
    this.stoppedBecause = message;
    this.kill();
  }

  /** Kills the task's whole process group (and its sandbox): SIGTERM, then SIGKILL after `graceMs`. */
  kill(graceMs = 3000): void {
    this.cancelled = true;
    this.pauseOutput(false); // drain the pipes so the group can end
    const launch = this.launch;
    if (launch) {
      // A sandbox's processes may sit outside the group (a new session, runsc's sandbox): end them too.
      if (graceMs <= 0) launch.kill();
      else setTimeout(() => launch.kill(), graceMs).unref();
    }

    const pid = this.child?.pid;
    if (!pid) return;
    const signalGroup = (sig: NodeJS.Signals) => {
      try {
        process.kill(-pid, sig);
      } catch {
        /* the group is gone */
      }
    };
    signalGroup('SIGTERM');
    this.killTimer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
    this.killTimer.unref();
  }
}

/** Kills a task group left behind by a previous agent process (its pid file in the state dir), unless its number was recycled. */
export function killLeftoverTask(stateDir: string | null, read: (p: string) => string | null): void {
  if (!stateDir) return;
  const g = parseTaskPid(read(join(stateDir, 'task.pid')) ?? '');
  if (g && isRecordedGroup(g)) signalGroup(g.pgid, 'SIGKILL');
  rmSync(join(stateDir, 'task.pid'), { force: true });
}
