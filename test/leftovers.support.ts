/**
 * @module The leak sweep of a test run (used by test/global-setup.ts): finds the processes this
 * run started that are still alive and kills them. Scoped to one run: a process counts only when
 * its environment holds `MARIONETTE_TEST_RUN=<this run's id>` (inherited by the test workers, the
 * servers and agents they spawn, and the servers' runners), so a second test run on the same
 * machine never has its processes counted or killed.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';

export interface Leftover {
  pid: number;
  what: string;
}

/** Pids of processes run `run` started: runners of a test server's home, or agents a test spawned. */
export function leftovers(run: string): Leftover[] {
  const out: Leftover[] = [];
  const mine = `MARIONETTE_TEST_RUN=${run}`;
  const testHome = `MARIONETTE_GATEWAY=unix:${tmpdir()}/marionette-test-`;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    let env: string[];
    try {
      env = readFileSync(`/proc/${d}/environ`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (!env.includes(mine)) continue;
    const hit = env.find((e) => e.startsWith(testHome) || e.startsWith('MARIONETTE_TEST_AGENTS='));
    if (!hit) continue;
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').join(' ').trim();
    } catch {
      continue;
    }
    out.push({ pid: Number(d), what: `${cmd} (${hit})` });
  }
  return out;
}

/**
 * Waits up to `graceMs` for run `run`'s leftover processes to exit, then SIGKILLs those still
 * there and returns them (empty when none was left).
 */
export function sweepLeftovers(run: string, graceMs = 3000): Leftover[] {
  if (process.platform !== 'linux') return [];
  const deadline = Date.now() + graceMs;
  let left = leftovers(run);
  while (left.length && Date.now() < deadline) {
    execFileSync('sleep', ['0.2']);
    left = leftovers(run);
  }
  for (const p of left) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  return left;
}
