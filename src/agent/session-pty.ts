/**
 * @module A runner's side of `mctl sessions exec -it`: the command on a pseudo-terminal
 * (`@lydell/node-pty`, loaded on the first such op) in the session's workspace. What the terminal
 * prints goes out as `stdout` output frames through the op's flow control (a full window pauses
 * the terminal, so the command blocks on its writes); keystrokes come in as `session.op.input`
 * (base64), a resize as `session.op.resize`, and a cancel (the client went away) kills the
 * command's process group. The op ends with the command's exit code (128+N for a signal).
 */
import { closeSync } from 'node:fs';
import type { SessionOp } from '../protocol/messages.js';
import type { OpOutput, Send } from './op-flow.js';
import type { OpPlace } from './op-sandbox.js';
import type { Launch } from './sandbox/index.js';
import { taskEnv } from './task-env.js';

interface Pty {
  readonly pid: number;
  onData(cb: (data: string) => void): void;
  onExit(cb: (e: { exitCode: number; signal?: number }) => void): void;
  write(data: string | Buffer): void;
  resize(cols: number, rows: number): void;
  kill(signal?: string): void;
  pause(): void;
  resume(): void;
}
interface PtyModule {
  spawn(
    file: string,
    args: string[],
    opts: { name: string; cols: number; rows: number; cwd: string; env: Record<string, string> },
  ): Pty;
}

let loaded: Promise<PtyModule> | null = null;
function ptyModule(): Promise<PtyModule> {
  loaded ??= import('@lydell/node-pty').then((m) => ((m as { default?: PtyModule }).default ?? m) as PtyModule);
  return loaded;
}

type Done = (exitCode: number | null, error: string | null) => void;

/** Starts a `pty` op; `done` is called once, when the command has ended. */
export function runPty(
  ref: string,
  op: Extract<SessionOp, { kind: 'pty' }>,
  workspace: string,
  io: { flow: OpOutput; send: Send; place: OpPlace },
  done: Done,
): void {
  ptyModule().then(
    (m) => start(m, ref, op, workspace, io, done),
    (e: unknown) =>
      done(null, `interactive terminals are not available on this runner (@lydell/node-pty: ${(e as Error).message})`),
  );
}

function start(
  m: PtyModule,
  ref: string,
  op: Extract<SessionOp, { kind: 'pty' }>,
  workspace: string,
  io: { flow: OpOutput; send: Send; place: OpPlace },
  done: Done,
): void {
  const { flow, send, place } = io;
  // gVisor hands the sandbox its stdio as plain files (the bundle has no console): no terminal there.
  if (place.runtime === 'gvisor') {
    done(
      null,
      'interactive terminals are not available in a gVisor sandbox yet: run the command without -it (its output is streamed)',
    );
    return;
  }
  const env = { ...taskEnv(process.env, {}, workspace), TERM: process.env.TERM || 'xterm-256color' };
  let launch: Launch | null = null;
  let term: Pty;
  try {
    launch = place.launch(op.argv, env);
    const [file, ...args] = launch ? viaFds(launch) : op.argv;
    term = m.spawn(file!, args, {
      name: env.TERM,
      cols: op.cols,
      rows: op.rows,
      cwd: workspace,
      env: launch?.env ?? env,
    });
  } catch (e: unknown) {
    for (const fd of launch?.fds ?? []) closeSync(fd);
    done(127, `${op.argv[0]}: ${(e as Error).message}`);
    return;
  }
  const sandbox = launch;
  let cancelled = false;
  const killGroup = () => {
    try {
      process.kill(-term.pid, 'SIGKILL');
    } catch {
      term.kill('SIGKILL');
    }
    sandbox?.kill();
  };
  flow.source(
    () => term.pause(),
    () => term.resume(),
  );
  flow.handlers.cancel = () => {
    cancelled = true;
    killGroup();
  };
  flow.handlers.resize = (cols, rows) => {
    try {
      term.resize(cols, rows);
    } catch {
      /* already gone */
    }
  };
  flow.takeInput((data, eof) => {
    if (data) term.write(Buffer.from(data, 'base64'));
    send({ type: 'session.op.input.ack', ref, bytes: data.length });
    // The user's side closed: the terminal hangs up (the shell gets SIGHUP).
    if (eof) killGroup();
  });
  term.onData((d) => flow.write('stdout', d));
  term.onExit(({ exitCode, signal }) => {
    if (sandbox) {
      for (const fd of sandbox.fds) closeSync(fd);
      void sandbox.finish({ code: exitCode, signal: null }).catch(() => {});
    }
    if (cancelled) done(null, 'interrupted: the client went away');
    else if (signal) done(128 + signal, null);
    else done(exitCode, null);
  });
}

/**
 * A sandbox launch as one argv a terminal can start: node-pty passes no extra descriptors, so the
 * files the launcher reads from fds 3, 4, ... (bwrap's seccomp program) are opened again by a
 * `sh` in front, through this process's /proc entry for each.
 */
function viaFds(l: Launch): string[] {
  if (!l.fds.length) return [l.file, ...l.args];
  const opens = l.fds.map((_, i) => `${i + 3}<"$${i + 1}"`).join(' ');
  const paths = l.fds.map((fd) => `/proc/${process.pid}/fd/${fd}`);
  return ['/bin/sh', '-c', `exec ${opens} && shift ${l.fds.length} && exec "$@"`, 'sh', ...paths, l.file, ...l.args];
}
