/**
 * @module Warm bubblewrap sandboxes: the next task's sandbox is made while the runner is idle, so
 * the kernel's namespace setup (tens of milliseconds on some hosts, see docs/isolation.md) is off
 * the task's path. A warm sandbox is `bwrap` with the same namespaces, binds and filter a task
 * would get, running a small bash stub that waits on fd 4 for the command: NUL-separated, the
 * number of environment entries, the entries, then argv. It then closes fd 4 and execs the
 * command under `env -i` with exactly that environment, so what runs is what a cold launch runs.
 *
 * Only what is the same for every task of a session is prepared ahead: runtime, workspace,
 * network (`none` or `host`: a per-task egress proxy socket cannot be known in advance), binds and
 * HOME. A task with memory/CPU/pids limits (its own cgroup) or an egress allow list, or a plan
 * that differs from the warm one, is launched cold, as before; the warm one is then discarded.
 * One sandbox is kept warm at a time; it dies with the agent (`--die-with-parent`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync } from 'node:fs';
import type { SandboxPlan } from './types.js';

/** Reads the command from fd 4, then execs it with exactly the environment sent. */
export const WARM_STUB =
  // biome-ignore lint/suspicious/noTemplateCurlyInString: bash's ${...}, not JavaScript's
  'mapfile -t -d "" -u 4 a || exit 126; exec 4<&-; n=${a[0]}; exec /usr/bin/env -i "${a[@]:1:n}" "${a[@]:n+1}"';

/** The bash the stub needs (mapfile -d: bash 4.4 or later). */
export const WARM_SHELL = '/bin/bash';

/** A prepared sandbox, handed to one task: its process, and `go` to send it the command. */
export interface Prepared {
  child: ChildProcess;
  go(): void;
}

/** What must match between a warm sandbox and a task's plan; null when the plan cannot be prepared ahead. */
export function warmKey(plan: SandboxPlan, home: string | null, needsCgroup: boolean): string | null {
  if (plan.runtime !== 'bubblewrap' || needsCgroup) return null;
  if (plan.network !== 'none' && plan.network !== 'host') return null;
  return JSON.stringify([plan.workspace, plan.network, plan.binds, home]);
}

/**
 * The stub's input for `argv` with `env`; null when `env -i` would misread it (an argv[0] that
 * looks like an assignment or an option, or an entry holding a NUL).
 */
export function warmInput(argv: string[], env: Record<string, string>): string | null {
  const first = argv[0];
  if (!first || first.includes('=') || first.startsWith('-')) return null;
  const entries = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const items = [String(entries.length), ...entries, ...argv];
  if (items.some((s) => s.includes('\0')) || entries.some((e) => e.startsWith('='))) return null;
  return items.map((s) => `${s}\0`).join('');
}

/** Keeps at most one sandbox warm, for the key of the last plan launched. */
export class WarmSandbox {
  private warm: { key: string; child: ChildProcess } | null = null;
  private disposed = false;

  /**
   * Starts a warm sandbox for `key` (replacing one for another key): `file args` is bwrap with
   * its arguments up to `--`; `fds` become fds 3, 4, ... before the control socket (closed here).
   */
  prepare(key: string, file: string, args: string[], fds: number[]): void {
    if (this.disposed) {
      for (const fd of fds) closeSync(fd);
      return;
    }
    if (this.warm?.key === key && alive(this.warm.child)) {
      for (const fd of fds) closeSync(fd);
      return;
    }
    this.discard();
    const control = 3 + fds.length;
    // The stub reads fd 4: with no extra fd before it, fd 3 is a placeholder.
    const extra: ('ignore' | number)[] = control === 4 ? fds : ['ignore', ...fds];
    const child = spawn(file, [...args, '--', WARM_SHELL, '-c', WARM_STUB], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe', ...extra, 'pipe'],
    });
    for (const fd of fds) closeSync(fd);
    child.on('error', () => {}); // seen by whoever takes it, or by `take` finding it dead
    child.stdio[child.stdio.length - 1]?.on('error', () => {});
    this.warm = { key, child };
  }

  /** The warm sandbox for `key`, if there is a live one; it is handed over (no longer kept). */
  take(key: string, input: string): Prepared | null {
    const w = this.warm;
    if (!w || w.key !== key || !alive(w.child)) return null;
    this.warm = null;
    const control = w.child.stdio[w.child.stdio.length - 1] as NodeJS.WritableStream | null;
    if (!control) {
      kill(w.child);
      return null;
    }
    return { child: w.child, go: () => control.end(input) };
  }

  /** The pid of the sandbox kept warm for `key`, or null (for tests and diagnostics). */
  pid(key?: string): number | null {
    const w = this.warm;
    return w && alive(w.child) && (key === undefined || w.key === key) ? (w.child.pid ?? null) : null;
  }

  /** Stops the warm sandbox, if any. */
  discard(): void {
    if (this.warm) kill(this.warm.child);
    this.warm = null;
  }

  /** No more warm sandboxes (the agent is stopping). */
  dispose(): void {
    this.disposed = true;
    this.discard();
  }
}

function alive(c: ChildProcess): boolean {
  return c.pid !== undefined && c.exitCode === null && c.signalCode === null;
}

function kill(c: ChildProcess): void {
  if (!c.pid || !alive(c)) return;
  try {
    process.kill(-c.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
