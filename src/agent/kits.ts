/**
 * @module Prepares a task's workspace on the runner, in the seed's order: the kits' install
 * commands (on the runner itself, skipped when a kit's `detect` passes or this runner installed it
 * before), then the session's repository clone (./repo.ts), then the kits' `postAcquire` hooks
 * (in the workspace, like the card's setup, inside the task's sandbox if it has one) once per
 * session on this runner. A non-zero exit aborts the task naming the kit and the command; the
 * command's output is in the task's log. The kits' `preRelease` hooks are remembered per session
 * and run best-effort when the runner lets the session's workspace go (`runPreRelease`).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TaskAssignment, ToolchainAssignment } from '../protocol/messages.js';
import { cloneRepo } from './repo.js';
import { taskEnv } from './task-env.js';

type Env = Record<string, string | undefined>;

/** A command's end as RunningTask reports it. */
export interface StepResult {
  exitCode: number | null;
  signal: string | null;
  error: string | null;
  cancelled: boolean;
}

export interface PrepareHooks {
  /** Runs `cmd` with bash: on the runner (`host`) or as the task's setup runs (its sandbox, if any). */
  run(cmd: string, where: 'host' | 'task'): Promise<StepResult>;
  line(text: string): void;
  cancelled(): boolean;
  /** The repository is checked out at `baseCommit` (told to the server once, after a fresh clone). */
  repoReady(baseCommit: string, ref: string | null): void;
  stateDir: string | null;
}

/** Expands `$NAME` / `${NAME}` in kit env values against the runner's environment. */
export function kitEnv(demand: ToolchainAssignment | undefined, base: Env): Record<string, string> {
  if (!demand) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(demand.env))
    out[k] = v.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_m, a?: string, b?: string) => {
      const name = (a ?? b)!;
      return base[name] ?? '';
    });
  return out;
}

/** Kits this runner process installed (also written under its state dir, so a restart keeps them). */
const installed = new Set<string>();
/** Sessions whose postAcquire hooks ran on this runner. */
const acquired = new Set<string>();

function installKey(unit: ToolchainAssignment['units'][number]): string {
  return createHash('sha256')
    .update(JSON.stringify([unit.ref, unit.installCommands]))
    .digest('hex')
    .slice(0, 32);
}

function wasInstalled(key: string, stateDir: string | null): boolean {
  return installed.has(key) || (stateDir !== null && existsSync(join(stateDir, 'kits', key)));
}

function markInstalled(key: string, ref: string, stateDir: string | null): void {
  installed.add(key);
  if (!stateDir) return;
  try {
    mkdirSync(join(stateDir, 'kits'), { recursive: true, mode: 0o700 });
    writeFileSync(join(stateDir, 'kits', key), `${ref}\n`);
  } catch {
    /* the in-memory mark still holds for this process */
  }
}

const failed = (error: string, r?: StepResult): StepResult => ({
  exitCode: r?.exitCode ?? null,
  signal: r?.signal ?? null,
  error,
  cancelled: r?.cancelled ?? false,
});

/**
 * Installs the kits, clones the repository and runs postAcquire; null when the task may go on,
 * else the result that ends it.
 */
export async function prepareWorkspace(
  a: TaskAssignment,
  workspace: string,
  hooks: PrepareHooks,
  platform: string = process.platform,
): Promise<StepResult | null> {
  const demand = a.toolchain;
  const ran = new Set<string>();
  for (const unit of demand?.units ?? []) {
    if (hooks.cancelled()) return failed('cancelled', { exitCode: null, signal: null, error: null, cancelled: true });
    if (!unit.os.includes(platform))
      return failed(`kit ${unit.ref} does not install on ${platform} (it lists ${unit.os.join(', ')})`);
    const key = installKey(unit);
    if (wasInstalled(key, hooks.stateDir)) {
      hooks.line(`kit ${unit.ref}: installed on this runner before`);
      continue;
    }
    if (unit.detect) {
      const d = await hooks.run(`{ ${unit.detect} ; } >/dev/null 2>&1`, 'host');
      if (d.exitCode === 0) {
        hooks.line(`kit ${unit.ref}: already present (detect passed), install skipped`);
        markInstalled(key, unit.ref, hooks.stateDir);
        continue;
      }
    }
    hooks.line(`kit ${unit.ref}: installing`);
    for (const cmd of unit.installCommands) {
      if (ran.has(cmd)) continue;
      ran.add(cmd);
      hooks.line(`$ ${cmd}`);
      const r = await hooks.run(cmd, 'host');
      if (r.cancelled) return r;
      if (r.exitCode !== 0 || r.error)
        return failed(
          `kit ${unit.ref}: install command failed (exit ${r.exitCode ?? r.signal ?? 'none'}): ${cmd}${r.error ? ` (${r.error})` : ''}`,
          r,
        );
    }
    markInstalled(key, unit.ref, hooks.stateDir);
  }
  let fresh = !acquired.has(a.sessionId);
  if (a.repo) {
    const r = await cloneRepo(a.repo, workspace, taskEnv(process.env, {}, workspace), hooks.line);
    if (!r.ok) return failed(r.error);
    if (r.cloned) {
      fresh = true;
      hooks.repoReady(r.baseCommit, a.repo.ref);
    }
  }
  if (demand && fresh) {
    const done = new Set<string>();
    for (const unit of demand.units)
      for (const cmd of unit.postAcquire) {
        if (done.has(cmd)) continue;
        done.add(cmd);
        if (hooks.cancelled())
          return failed('cancelled', { exitCode: null, signal: null, error: null, cancelled: true });
        hooks.line(`$ ${cmd}`);
        const r = await hooks.run(cmd, 'task');
        if (r.cancelled) return r;
        if (r.exitCode !== 0 || r.error)
          return failed(
            `kit ${unit.ref}: postAcquire command failed (exit ${r.exitCode ?? r.signal ?? 'none'}): ${cmd}${r.error ? ` (${r.error})` : ''}`,
            r,
          );
      }
  }
  acquired.add(a.sessionId);
  if (demand?.preRelease.length)
    releases.set(a.sessionId, { commands: demand.preRelease, workspace, env: kitEnv(demand, process.env) });
  return null;
}

/** preRelease hooks to run when a session's workspace goes, by session id. */
const releases = new Map<string, { commands: string[]; workspace: string; env: Record<string, string> }>();

/** Runs one command on the runner, best-effort, bounded in time; resolves with its exit code. */
function runBestEffort(
  cmd: string,
  cwd: string,
  env: Record<string, string>,
  timeoutMs: number,
): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-lc', cmd], { cwd, env, stdio: 'ignore', detached: true });
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, timeoutMs);
    child.once('error', () => {
      clearTimeout(timer);
      resolve(null);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/**
 * Runs a session's kits' preRelease hooks (best-effort: a failure is logged, never fatal), once;
 * before its workspace is removed or the runner stops.
 */
export async function runPreRelease(sessionId: string, log: (line: string) => void, timeoutMs = 60_000): Promise<void> {
  const r = releases.get(sessionId);
  releases.delete(sessionId);
  acquired.delete(sessionId);
  if (!r || !existsSync(r.workspace)) return;
  for (const cmd of r.commands) {
    const env = taskEnv(process.env, r.env, r.workspace);
    const code = await runBestEffort(cmd, r.workspace, env, timeoutMs);
    if (code !== 0) log(`session ${sessionId}: preRelease command failed (exit ${code ?? 'none'}), going on: ${cmd}`);
  }
}

/** A session ended here: its preRelease hooks, then `remove` (its workspace), logging what happened. */
export async function releaseWorkspace(
  sessionId: string,
  workspaces: { remove(sessionId: string): boolean },
  log: (line: string) => void,
): Promise<void> {
  await runPreRelease(sessionId, log);
  try {
    if (workspaces.remove(sessionId)) log(`session ${sessionId} ended: removed its workspace`);
  } catch (e: unknown) {
    log(`session ${sessionId} ended, but removing its workspace failed: ${(e as Error).message}`);
  }
}

/** Runs every remembered session's preRelease hooks (the runner is stopping). */
export async function runAllPreRelease(log: (line: string) => void, timeoutMs = 10_000): Promise<void> {
  for (const id of [...releases.keys()]) await runPreRelease(id, log, timeoutMs);
}
