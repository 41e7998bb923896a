/**
 * @module Nested sandboxes (`sandbox_mode: runner-creates-sandbox`): the agent runs each task's
 * commands inside a bubblewrap or gVisor sandbox it makes, with the task's limits. {@link
 * SandboxHost} is made once per agent (it finds the runtimes and keeps the seccomp filter, the
 * gVisor bundles and runsc's state in a private directory) and turns a {@link SandboxPlan} into a
 * {@link Launch}. A task whose runtime is missing, or whose limits cannot be enforced, fails with
 * the reason: it never runs without its sandbox. See docs/isolation.md.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bwrapArgs, checkBind } from './bubblewrap.js';
import { type CgroupSupport, detectCgroups, ownGroups, TaskCgroup } from './cgroup.js';
import { type Detected, detectRuntimes, detectRuntimesAsync } from './detect.js';
import { destroyContainer, runscGlobalArgs, writeBundle } from './gvisor.js';
import { networkSetup } from './network.js';
import { buildSeccompFilter, seccompArch } from './seccomp.js';
import { type Launch, SANDBOX_RUNTIMES, SandboxError, type SandboxPlan, type SandboxRuntime } from './types.js';
import { WarmSandbox, warmInput, warmKey } from './warm.js';

export * from './types.js';

export interface SandboxHostOptions {
  /** The PATH the runtimes are looked up on. */
  path: string;
  /** Only these runtimes are offered (null: every one found). */
  allowed?: readonly SandboxRuntime[] | null;
  /** gVisor platform: ptrace (default), systrap, kvm. */
  gvisorPlatform?: string;
  /** The task's HOME (an empty private directory inside the sandbox); null: none. */
  home?: string | null;
  /** cgroup root (tests); default /sys/fs/cgroup. */
  cgroupRoot?: string;
  /** Keep the next bubblewrap sandbox warm (./warm.ts); default true. */
  warm?: boolean;
}

/** Joins every listed cgroup, then execs the rest: `sh -c SCRIPT sh N procs-file... argv...`. */
const JOIN_CGROUPS =
  'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n-1)); done; exec "$@"';

export class SandboxHost {
  private dir: string | null = null;
  private cgroups: CgroupSupport | null = null;
  private seq = 0;
  private readonly warmBox = new WarmSandbox();

  private constructor(
    readonly detected: Detected,
    private readonly opts: SandboxHostOptions,
  ) {}

  /** Finds the runtimes (one bwrap probe: a few milliseconds on most hosts). */
  static detect(opts: SandboxHostOptions): SandboxHost {
    return new SandboxHost(detectRuntimes(opts.path, opts.allowed ?? null), opts);
  }

  /** {@link detect} without blocking the event loop (the agent probes while it registers). */
  static async detectAsync(opts: SandboxHostOptions): Promise<SandboxHost> {
    return new SandboxHost(await detectRuntimesAsync(opts.path, opts.allowed ?? null), opts);
  }

  /** The runtimes this runner offers, strongest first (what `hello` reports). */
  get runtimes(): SandboxRuntime[] {
    return SANDBOX_RUNTIMES.filter((r) => this.detected.found.has(r));
  }

  /**
   * The runtime a task gets: the one asked for, or for `auto` bubblewrap (fast start) else gVisor.
   * Throws SandboxError naming the runtime when it is not here.
   */
  resolve(asked: SandboxRuntime | 'auto'): SandboxRuntime {
    if (asked === 'auto') {
      for (const r of ['bubblewrap', 'gvisor'] as const) if (this.detected.found.has(r)) return r;
      throw new SandboxError(
        `no nested sandbox runtime on this runner (${[...this.detected.missing.values()].join('; ')}); the task does not run unsandboxed`,
      );
    }
    if (this.detected.found.has(asked)) return asked;
    throw new SandboxError(
      `sandbox runtime ${asked} is not available on this runner: ${this.detected.missing.get(asked) ?? 'unknown runtime'}; the task does not run unsandboxed`,
    );
  }

  /** This agent's private directory (0700) for the filter, bundles and runsc state. */
  private workDir(): string {
    if (!this.dir) {
      this.dir = mkdtempSync(join(tmpdir(), 'marionette-sandbox-'));
      const d = this.dir;
      process.once('exit', () => rmSync(d, { recursive: true, force: true }));
    }
    return this.dir;
  }

  /** The pid of the bubblewrap sandbox kept warm for the next command, or null. */
  get warmPid(): number | null {
    return this.warmBox.pid();
  }

  /** Stops the warm sandbox and makes no more (the agent is stopping). */
  dispose(): void {
    this.warmBox.dispose();
  }

  /** A fresh unix socket path in this agent's private directory (a task's egress proxy listens there). */
  egressSocket(): string {
    return join(this.workDir(), `egress-${++this.seq}.sock`);
  }

  private seccompFile(): string {
    const f = join(this.workDir(), 'seccomp.bpf');
    if (!existsSync(f)) writeFileSync(f, buildSeccompFilter(seccompArch() as 'x64'), { mode: 0o600 });
    return f;
  }

  /** Prepares one command's sandbox. Throws SandboxError when it cannot be made as asked. */
  launch(plan: SandboxPlan): Launch {
    const binary = this.detected.found.get(plan.runtime);
    if (!binary) throw new SandboxError(`sandbox runtime ${plan.runtime} is not available on this runner`);
    for (const b of plan.binds) {
      const problem = checkBind(b);
      if (problem) throw new SandboxError(problem);
    }
    const net = networkSetup(plan.network);
    const name = `${plan.name.replace(/[^A-Za-z0-9_-]/g, '_')}-${process.pid}-${++this.seq}`;
    const workspaceReal = realpathSync(plan.workspace);
    const home = this.opts.home ?? null;
    const env = { ...plan.env, ...net.env, ...(home ? { HOME: home } : {}) };
    const argv = net.wrap(plan.argv);
    let cgroup: TaskCgroup | null = null;
    let cgroupsPath: string | null = null;
    if (TaskCgroup.needed(plan.limits)) {
      this.cgroups ??= detectCgroups(this.opts.cgroupRoot);
      if (this.cgroups.kind === 'none')
        throw new SandboxError(`memory/CPU/pids limits cannot be enforced: ${this.cgroups.reason}`);
      if (plan.runtime === 'bubblewrap') cgroup = TaskCgroup.create(this.cgroups, name, plan.limits);
      else {
        const own = ownGroups();
        const base = (this.cgroups.kind === 'v2' ? own.get('v2') : own.get('memory')) ?? '/';
        cgroupsPath = join(base, 'marionette-tasks', name);
      }
    }
    let file: string;
    let args: string[];
    const fds: number[] = [];
    let stop = () => {};
    let cleanup = () => {};
    const key =
      this.opts.warm === false || plan.warm === false
        ? null
        : warmKey(plan, home, cgroup !== null || cgroupsPath !== null);
    let prepared: Launch['prepared'];
    if (plan.runtime === 'bubblewrap') {
      const input = key ? warmInput(argv, env) : null;
      prepared = (key && input ? this.warmBox.take(key, input) : null) ?? undefined;
      if (!prepared) this.warmBox.discard();
      const bwrap = bwrapArgs(plan, net, { seccompFd: 3, home, workspaceReal });
      file = binary;
      args = [...bwrap, '--', ...argv];
      if (!prepared) fds.push(openSync(this.seccompFile(), 'r'));
      // The next command of this session (the runner is idle then) finds its sandbox made.
      if (key) cleanup = () => this.warmBox.prepare(key, binary, bwrap, [openSync(this.seccompFile(), 'r')]);
    } else {
      const state = join(this.workDir(), 'runsc');
      const bundle = writeBundle(join(this.workDir(), 'bundles'), { ...plan, name }, net, argv, env, {
        home,
        workspaceReal,
        cgroupsPath,
      });
      file = binary;
      args = [
        ...runscGlobalArgs(state, this.opts.gvisorPlatform ?? 'ptrace', net),
        'run',
        '--bundle',
        bundle.dir,
        bundle.id,
      ];
      stop = () => {
        spawn(binary, [`--root=${state}`, 'kill', '--all', bundle.id, 'KILL'], { stdio: 'ignore' }).on(
          'error',
          () => {},
        );
      };
      cleanup = () => {
        destroyContainer(binary, state, bundle.id);
        rmSync(bundle.dir, { recursive: true, force: true });
      };
    }
    if (cgroup) {
      const procs = cgroup.procsFiles;
      args = ['-c', JOIN_CGROUPS, 'sh', String(procs.length), ...procs, file, ...args];
      file = '/bin/sh';
    }
    const g = cgroup;
    let killed = false;
    return {
      file,
      args,
      env,
      fds,
      ...(prepared ? { prepared } : {}),
      kill() {
        killed = true;
        stop();
        g?.killAll();
      },
      async finish(exit) {
        cleanup();
        let why = g?.verdict(plan.limits) ?? null;
        await g?.remove();
        // runsc removes its group at exit, so its OOM count is gone: a SIGKILL nobody here sent, under a memory limit, is read as the limit.
        if (
          !why &&
          cgroupsPath &&
          !killed &&
          plan.limits.memoryBytes !== null &&
          (exit.code === 137 || exit.signal === 'SIGKILL')
        )
          why = `the task was killed inside its gVisor sandbox (SIGKILL), most likely at its memory limit of ${plan.limits.memoryBytes} bytes`;
        return why;
      },
    };
  }
}
