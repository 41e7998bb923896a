/**
 * @module Where a session op's processes run (./session-ops.ts, ./session-files.ts): on the runner
 * itself, or, for a session whose pool makes nested sandboxes (`runner-creates-sandbox`), inside a
 * sandbox made like its tasks' (same runtime, workspace bind, binds, limits and network: see
 * ./sandbox/ and docs/isolation.md), so `exec`, `cp` and `diff` see the files as the agent does
 * and run nothing of the agent's (git filters and hooks of its repository, say) outside it. Each
 * command gets its own sandbox (never the warm one kept for the next task); an op's egress proxy
 * (for an allow list) lives as long as the op.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync } from 'node:fs';
import type { TaskSandbox } from '../protocol/messages.js';
import type { GitRun } from './repo.js';
import { type Launch, SandboxError, type SandboxHost, type SandboxRuntime } from './sandbox/index.js';
import { openTaskEgress } from './task-egress.js';

export interface OpPlace {
  /** True when commands run in the session's nested sandbox. */
  readonly sandboxed: boolean;
  /** The nested sandbox's runtime (null on the runner itself). */
  readonly runtime: SandboxRuntime | null;
  /** Starts `argv` in its own process group (stdin a pipe when asked, stdout and stderr pipes). */
  spawn(argv: string[], opts: { cwd: string; env: Record<string, string>; stdin?: boolean }): ChildProcess;
  /**
   * How to start `argv` in the sandbox (for a caller that spawns it itself: a terminal); null on
   * the runner itself. The caller passes `fds` as 3, 4, ... and calls `finish` when it ended.
   */
  launch(argv: string[], env: Record<string, string>): Launch | null;
  /** Kills what `spawn` started, its sandbox included. */
  kill(child: ChildProcess): void;
  /** The op ended: what it opened for its commands is closed. */
  close(): Promise<void>;
}

function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    /* gone */
  }
}

/** Commands on the runner itself (a runner that is the sandbox). */
export const RUNNER_PLACE: OpPlace = {
  sandboxed: false,
  runtime: null,
  spawn: (argv, o) =>
    spawn(argv[0]!, argv.slice(1), {
      cwd: o.cwd,
      env: o.env,
      detached: true,
      stdio: [o.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    }),
  launch: () => null,
  kill: killGroup,
  close: async () => {},
};

/**
 * The session's nested sandbox for op `ref` in `workspace`. Throws SandboxError (with the reason)
 * when this runner cannot make it: the op then fails, it never runs unsandboxed.
 */
export async function sandboxPlace(
  host: SandboxHost | null,
  box: TaskSandbox,
  workspace: string,
  ref: string,
): Promise<OpPlace> {
  if (!host) throw new SandboxError('this runner cannot make nested sandboxes; the op does not run unsandboxed');
  const runtime = host.resolve(box.runtime);
  const egress = await openTaskEgress(box.network, () => host.egressSocket());
  const launches = new WeakMap<ChildProcess, Launch>();
  let seq = 0;
  const launchFor = (argv: string[], env: Record<string, string>) =>
    host.launch({
      runtime,
      workspace,
      network: egress.network,
      binds: box.binds,
      limits: box.limits,
      argv,
      env,
      name: `${ref}-${++seq}`,
      warm: false,
    });
  return {
    sandboxed: true,
    runtime,
    launch: launchFor,
    spawn(argv, o) {
      const launch = launchFor(argv, o.env);
      const child = spawn(launch.file, launch.args, {
        cwd: o.cwd,
        env: launch.env,
        detached: true,
        stdio: [o.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe', ...launch.fds],
      });
      for (const fd of launch.fds) closeSync(fd);
      launches.set(child, launch);
      child.once('close', (code, signal) => {
        void launch.finish({ code, signal }).catch(() => {});
      });
      return child;
    },
    kill(child) {
      killGroup(child);
      launches.get(child)?.kill();
    },
    async close() {
      await egress.close();
    },
  };
}

/** git `args` in `cwd`, run at `place` (output kept up to 1 MiB a stream, as ./repo.ts runGit). */
export function gitAt(place: OpPlace, args: string[], cwd: string, env: Record<string, string>): Promise<GitRun> {
  return new Promise((resolve) => {
    const child = place.spawn(['git', ...args], { cwd, env });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => {
      if (stdout.length < 1 << 20) stdout += c.toString('utf8');
    });
    child.stderr!.on('data', (c: Buffer) => {
      if (stderr.length < 1 << 20) stderr += c.toString('utf8');
    });
    child.once('error', (e) => resolve({ code: null, stdout, stderr: `could not run git: ${e.message}` }));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
