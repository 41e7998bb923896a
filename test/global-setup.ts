/**
 * @module Vitest global setup: the end-to-end tests run the built programs (`bin/*` load
 * `dist/`), so make sure the build is there; at the end, fail the run if any runner or task
 * process a test started is still alive (and kill it), so a leak never goes unnoticed. Each run
 * marks what it starts with its own `MARIONETTE_TEST_RUN` (inherited by the test workers, the
 * servers and agents they spawn, and the servers' runners), so two runs on one machine never
 * count or kill each other's processes.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';

/** Pids of processes started for tests: runners of a test server's home, or agents a test spawned. */
function leftovers(run: string): { pid: number; what: string }[] {
  const out: { pid: number; what: string }[] = [];
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

export default function setup(): () => void {
  const run = randomBytes(6).toString('hex');
  process.env.MARIONETTE_TEST_RUN = run;
  if (!existsSync(new URL('../dist/src/agent/main.js', import.meta.url))) {
    execFileSync('npm', ['run', 'build'], { stdio: 'inherit' });
  }
  return () => {
    if (process.platform !== 'linux') return;
    // Give processes being torn down by the last suite a moment to exit.
    const deadline = Date.now() + 3000;
    let left = leftovers(run);
    while (left.length && Date.now() < deadline) {
      execFileSync('sleep', ['0.2']);
      left = leftovers(run);
    }
    if (!left.length) return;
    for (const p of left) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    throw new Error(
      `tests left ${left.length} process(es) running (now killed):\n${left.map((p) => `  ${p.pid} ${p.what}`).join('\n')}`,
    );
  };
}
