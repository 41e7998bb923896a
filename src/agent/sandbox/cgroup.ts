/**
 * @module Per-task cgroups that enforce a nested sandbox's memory, CPU and pids limits, for both
 * runtimes (the bubblewrap or runsc process and everything it starts join the group before the
 * sandbox exists, so nothing escapes it).
 *
 * - cgroup v2 (`/sys/fs/cgroup/cgroup.controllers` exists): the task's group is made under the
 *   agent's own group (`/proc/self/cgroup`, `0::/path`), with `memory`, `pids` and `cpu` enabled
 *   in that group's `cgroup.subtree_control`. The kernel allows that only where the agent's group
 *   holds no process itself or is the root (a delegated subtree: systemd `Delegate=yes`, or a
 *   container's own namespace); elsewhere v2 limits are unavailable.
 * - cgroup v1 (hybrid hosts, e.g. `/sys/fs/cgroup/memory`): one group per controller, under the
 *   agent's own group in each hierarchy.
 * Files: v2 `memory.max` (+ `memory.swap.max` 0), `cpu.max`, `pids.max`; v1
 * `memory.limit_in_bytes` (+ `memory.memsw.limit_in_bytes`), `cpu.cfs_quota_us`, `pids.max`.
 * A task past its memory is killed by the kernel's OOM killer inside its group (the agent is not
 * in it); past its pids, `fork` fails with EAGAIN.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SandboxError, type SandboxLimits } from './types.js';

const CONTROLLERS = ['memory', 'pids', 'cpu'] as const;
type Controller = (typeof CONTROLLERS)[number];

export type CgroupSupport =
  | { kind: 'v2'; parent: string }
  | { kind: 'v1'; parents: Partial<Record<Controller, string>> }
  | { kind: 'none'; reason: string };

/** The agent's own group path per hierarchy, from /proc/self/cgroup (`v2`, or a v1 controller name). */
export function ownGroups(): Map<string, string> {
  const out = new Map<string, string>();
  let text = '';
  try {
    text = readFileSync('/proc/self/cgroup', 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    if (m[1] === '0' && m[2] === '') out.set('v2', m[3] as string);
    for (const c of (m[2] as string).split(',')) if (c) out.set(c, m[3] as string);
  }
  return out;
}

/** Where this agent can make task groups, once per agent (the answer does not change while it runs). */
export function detectCgroups(root = '/sys/fs/cgroup'): CgroupSupport {
  const own = ownGroups();
  if (existsSync(join(root, 'cgroup.controllers'))) {
    const parent = join(root, own.get('v2') ?? '/', 'marionette-tasks');
    try {
      mkdirSync(parent, { recursive: true });
      const have = readFileSync(join(root, 'cgroup.controllers'), 'utf8').split(/\s+/);
      const want = CONTROLLERS.filter((c) => have.includes(c));
      // Enable the controllers down the path from the agent's group to `parent`.
      for (const dir of [join(parent, '..'), parent])
        writeFileSync(join(dir, 'cgroup.subtree_control'), want.map((c) => `+${c}`).join(' '));
      return { kind: 'v2', parent };
    } catch (e: unknown) {
      return {
        kind: 'none',
        reason: `cgroup v2 is not delegated to this agent (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
      };
    }
  }
  const parents: Partial<Record<Controller, string>> = {};
  for (const c of CONTROLLERS) {
    const base = join(root, c);
    if (!existsSync(join(base, 'cgroup.procs'))) continue;
    const dir = join(base, own.get(c) ?? '/', 'marionette-tasks');
    try {
      mkdirSync(dir, { recursive: true });
      parents[c] = dir;
    } catch {
      /* not writable: that controller is unavailable */
    }
  }
  if (Object.keys(parents).length === 0) return { kind: 'none', reason: `no writable cgroup hierarchy under ${root}` };
  return { kind: 'v1', parents };
}

function write(file: string, value: string): void {
  try {
    writeFileSync(file, value);
  } catch (e: unknown) {
    throw new SandboxError(`cannot set ${file} to ${value}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

function readCount(file: string, key: string): number {
  try {
    const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(readFileSync(file, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** One task's group(s). */
export class TaskCgroup {
  private constructor(
    private readonly support: Exclude<CgroupSupport, { kind: 'none' }>,
    /** Directory per controller (v2: one directory for all). */
    private readonly dirs: Partial<Record<Controller, string>>,
  ) {}

  /** True when some limit is set (otherwise no group is needed). */
  static needed(limits: SandboxLimits): boolean {
    return limits.memoryBytes !== null || limits.cpus !== null || limits.pids !== null;
  }

  /** Makes the groups for `name` with `limits`; throws SandboxError naming the limit that cannot be enforced. */
  static create(support: CgroupSupport, name: string, limits: SandboxLimits): TaskCgroup {
    if (support.kind === 'none') throw new SandboxError(`memory/CPU/pids limits cannot be enforced: ${support.reason}`);
    const wanted: Controller[] = [];
    if (limits.memoryBytes !== null) wanted.push('memory');
    if (limits.pids !== null) wanted.push('pids');
    if (limits.cpus !== null) wanted.push('cpu');
    const dirs: Partial<Record<Controller, string>> = {};
    for (const c of wanted) {
      const parent = support.kind === 'v2' ? support.parent : support.parents[c];
      if (!parent) throw new SandboxError(`the ${c} limit cannot be enforced: no writable cgroup v1 ${c} controller`);
      const dir = join(parent, name);
      try {
        mkdirSync(dir, { recursive: true });
      } catch (e: unknown) {
        throw new SandboxError(`cannot make cgroup ${dir}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
      }
      dirs[c] = dir;
    }
    const g = new TaskCgroup(support, dirs);
    try {
      g.apply(limits);
    } catch (e: unknown) {
      void g.remove();
      throw e;
    }
    return g;
  }

  private apply(l: SandboxLimits): void {
    const v2 = this.support.kind === 'v2';
    if (l.memoryBytes !== null && this.dirs.memory) {
      const d = this.dirs.memory;
      if (v2) {
        write(join(d, 'memory.max'), String(l.memoryBytes));
        if (existsSync(join(d, 'memory.swap.max'))) write(join(d, 'memory.swap.max'), '0');
      } else {
        write(join(d, 'memory.limit_in_bytes'), String(l.memoryBytes));
        if (existsSync(join(d, 'memory.memsw.limit_in_bytes')))
          write(join(d, 'memory.memsw.limit_in_bytes'), String(l.memoryBytes));
      }
    }
    if (l.pids !== null && this.dirs.pids) write(join(this.dirs.pids, 'pids.max'), String(l.pids));
    if (l.cpus !== null && this.dirs.cpu) {
      const quota = Math.max(1000, Math.round(l.cpus * 100_000));
      if (v2) write(join(this.dirs.cpu, 'cpu.max'), `${quota} 100000`);
      else {
        write(join(this.dirs.cpu, 'cpu.cfs_period_us'), '100000');
        write(join(this.dirs.cpu, 'cpu.cfs_quota_us'), String(quota));
      }
    }
  }

  /** The `cgroup.procs` files a process writes its pid to, to join every group (deduplicated for v2). */
  get procsFiles(): string[] {
    return [...new Set(Object.values(this.dirs))].map((d) => join(d as string, 'cgroup.procs'));
  }

  /** Why the group stopped the task, if it did: the memory limit (an OOM kill) or the pids limit. */
  verdict(limits: SandboxLimits): string | null {
    const m = this.dirs.memory;
    if (m) {
      const file = join(m, this.support.kind === 'v2' ? 'memory.events' : 'memory.oom_control');
      if (readCount(file, 'oom_kill') > 0)
        return `the task ran out of memory: killed at its limit of ${limits.memoryBytes} bytes`;
    }
    const p = this.dirs.pids;
    if (p && readCount(join(p, 'pids.events'), 'max') > 0)
      return `the task reached its limit of ${limits.pids} processes (further forks were refused)`;
    return null;
  }

  private members(): number[] {
    const out = new Set<number>();
    for (const f of this.procsFiles) {
      try {
        for (const l of readFileSync(f, 'utf8').split('\n')) if (l) out.add(Number(l));
      } catch {
        /* gone */
      }
    }
    return [...out];
  }

  /** SIGKILLs every process in the group (a fork bomb included: repeated until it is empty). */
  killAll(): void {
    if (this.support.kind === 'v2') {
      const d = Object.values(this.dirs)[0];
      if (d && existsSync(join(d, 'cgroup.kill'))) {
        try {
          writeFileSync(join(d, 'cgroup.kill'), '1');
          return;
        } catch {
          /* fall back to signalling each member */
        }
      }
    }
    for (let round = 0; round < 50; round++) {
      const pids = this.members();
      if (pids.length === 0) return;
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
  }

  /** Kills what is left and removes the groups (retried while the last members are reaped). */
  async remove(): Promise<void> {
    for (let attempt = 0; attempt < 50; attempt++) {
      this.killAll();
      let left = 0;
      for (const d of new Set(Object.values(this.dirs))) {
        try {
          if (existsSync(d as string)) rmdirSync(d as string);
        } catch {
          left++;
        }
      }
      if (left === 0) return;
      await sleep(20);
    }
  }
}
