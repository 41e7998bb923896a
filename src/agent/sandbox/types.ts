/**
 * @module The nested-sandbox vocabulary shared by the agent's launchers (bubblewrap, gVisor): what
 * a task asks for (runtime, network, binds, limits) and what a launcher hands back to spawn.
 */

/** The nested runtimes a runner may offer, strongest first. */
export const SANDBOX_RUNTIMES = ['gvisor', 'bubblewrap'] as const;
export type SandboxRuntime = (typeof SANDBOX_RUNTIMES)[number];

/**
 * How the sandbox reaches the network:
 * - `none`: a network namespace of its own with only loopback (the default);
 * - `host`: the runner's network as is;
 * - `{ proxySocket }`: no network but a way to the egress proxy listening on that unix socket on
 *   the runner's side (implemented by the egress policy in src/egress/, see ./network.ts).
 */
export type SandboxNetwork = 'none' | 'host' | { proxySocket: string };

/** A host path made visible inside the sandbox at the same path, read-only unless `rw`. */
export interface SandboxBind {
  path: string;
  rw: boolean;
}

/** Per-task resource limits; null = not limited. */
export interface SandboxLimits {
  memoryBytes: number | null;
  /** CPUs (fractions allowed: 0.5 = half a CPU), enforced as a CFS quota. */
  cpus: number | null;
  /** Processes and threads. */
  pids: number | null;
}

export const NO_LIMITS: SandboxLimits = { memoryBytes: null, cpus: null, pids: null };

/** What one command needs from its sandbox. */
export interface SandboxPlan {
  runtime: SandboxRuntime;
  /** The session's workspace on the runner: visible, read-write, at the same path. */
  workspace: string;
  network: SandboxNetwork;
  binds: SandboxBind[];
  limits: SandboxLimits;
  argv: string[];
  env: Record<string, string>;
  /** A name unique among this runner's tasks (letters, digits, - and _): names the cgroup and the container. */
  name: string;
  /** false: never use (nor make) a sandbox kept warm (./warm.ts), e.g. for a session op's command. */
  warm?: boolean;
}

/** How to start a sandboxed command: spawn `file args` with `env` and `fds` as fds 3, 4, ... */
export interface Launch {
  /**
   * A sandbox made ahead of time (./warm.ts): its process is already running; `go` sends it the
   * command. Use it instead of spawning `file args`.
   */
  prepared?: { child: import('node:child_process').ChildProcess; go(): void };
  file: string;
  args: string[];
  env: Record<string, string>;
  /** Open file descriptors the launcher reads (e.g. bwrap's seccomp program), passed as fds 3, 4, ... */
  fds: number[];
  /** Also stops the sandbox when the task is killed (what a signal to the process group may not reach). */
  kill(): void;
  /**
   * After the process ended: removes what the launch made (cgroup, bundle, container state) and
   * says why the sandbox stopped the task, if it did (memory or pids limit), else null.
   */
  finish(exit: { code: number | null; signal: string | null }): Promise<string | null>;
}

/** A sandbox could not be set up for a task: the task fails with this message (never runs unsandboxed). */
export class SandboxError extends Error {
  override readonly name = 'SandboxError';
}
