/**
 * @module Vitest global setup: the end-to-end tests run the built programs (`bin/*` load
 * `dist/`), so make sure the build is there; at the end, fail the run if any runner or task
 * process a test started is still alive (and kill it), so a leak never goes unnoticed. Each run
 * marks what it starts with its own `MARIONETTE_TEST_RUN` (inherited by the test workers, the
 * servers and agents they spawn, and the servers' runners), so two runs on one machine never
 * count or kill each other's processes (test/leftovers.support.ts; checked by
 * test/leftovers.scope.test.ts).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { sweepLeftovers } from './leftovers.support.js';

export default function setup(): () => void {
  const run = randomBytes(6).toString('hex');
  process.env.MARIONETTE_TEST_RUN = run;
  if (!existsSync(new URL('../dist/src/agent/main.js', import.meta.url))) {
    execFileSync('npm', ['run', 'build'], { stdio: 'inherit' });
  }
  return () => {
    // Processes being torn down by the last suite get a moment to exit.
    const left = sweepLeftovers(run);
    if (!left.length) return;
    throw new Error(
      `tests left ${left.length} process(es) running (now killed):\n${left.map((p) => `  ${p.pid} ${p.what}`).join('\n')}`,
    );
  };
}
