/**
 * @module Helpers for the pool, token, lease and matcher tests: real `marionette-agent` child
 * processes joining a server over TCP loopback, tagged with an environment marker so that every
 * agent (and every task process it started, which inherits its environment) is killed at cleanup.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, json, processesWithEnv, type ServerHandle, until } from './harness.js';

export interface AgentProc {
  proc: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  /** The agent's own temporary directory (its HOME and default `--workspace`). */
  dir: string;
  /** Kills the agent's process (not the task processes it started, unless `withTasks`). */
  kill(signal?: NodeJS.Signals): void;
}

export interface RunnerRow {
  id: string;
  name: string;
  state: string;
  poolId: string;
  sessionId: string | null;
  labels: Record<string, string>;
  draining: boolean;
}

/** A group of agents started for one test file; `cleanup()` kills them and their tasks. */
export class Agents {
  readonly marker = `pooltest-${process.pid}-${Math.random().toString(36).slice(2)}`;
  private readonly dirs: string[] = [];
  readonly procs: AgentProc[] = [];

  start(srv: ServerHandle, args: string[], env: Record<string, string> = {}): AgentProc {
    const dir = mkdtempSync(join(tmpdir(), 'marionette-agent-'));
    this.dirs.push(dir);
    const proc = spawn(
      process.execPath,
      [BIN.agent, '--server', `127.0.0.1:${srv.gatewayPort}`, '--workspace', dir, ...args],
      {
        env: { ...process.env, HOME: dir, MARIONETTE_TEST_AGENTS: this.marker, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    proc.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
    });
    proc.stderr!.on('data', (c: Buffer) => {
      out += c.toString();
    });
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    const a: AgentProc = {
      proc,
      output: () => out,
      exited,
      dir,
      kill: (signal = 'SIGKILL') => {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      },
    };
    this.procs.push(a);
    return a;
  }

  /** Kills every agent and task process carrying this group's marker; removes workspaces. */
  cleanup(): void {
    for (const a of this.procs) a.kill('SIGKILL');
    for (const pid of processesWithEnv('MARIONETTE_TEST_AGENTS', this.marker)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    for (const d of this.dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    this.procs.length = 0;
  }
}

/** Live runners of a pool, via the real CLI. */
export async function poolRunners(srv: ServerHandle, pool: string, all = false): Promise<RunnerRow[]> {
  const r = await srv.mctl(['-o', 'json', 'runners', 'list', '--pool', pool, ...(all ? ['--all'] : [])]);
  if (r.code !== 0) throw new Error(`mctl runners list failed: ${r.stderr}`);
  return json<RunnerRow[]>(r);
}

/** Waits until the pool has `n` idle runners; returns them. */
export function idleRunners(srv: ServerHandle, pool: string, n: number, timeoutMs = 30_000): Promise<RunnerRow[]> {
  return until(
    async () => {
      const rs = (await poolRunners(srv, pool)).filter((r) => r.state === 'idle');
      return rs.length === n ? rs : null;
    },
    `${n} idle runner(s) in pool ${pool}`,
    timeoutMs,
  );
}

/** Creates a registration token with mctl and returns the secret. */
export async function createToken(srv: ServerHandle, args: string[]): Promise<{ id: string; token: string }> {
  const r = await srv.mctl(['-o', 'json', 'runners', 'tokens', 'create', ...args]);
  if (r.code !== 0) throw new Error(`token create failed: ${r.stderr}`);
  return json<{ id: string; token: string }>(r);
}
