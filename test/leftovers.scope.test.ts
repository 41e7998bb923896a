/**
 * The leak sweep kills only its own run's processes: a process with the same environment shape
 * but another run's `MARIONETTE_TEST_RUN` (a second test run on the same machine) is left alive.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { until } from './harness.js';
import { leftovers, sweepLeftovers } from './leftovers.support.js';

const started: ChildProcess[] = [];
afterEach(() => {
  for (const p of started.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

/** A long-lived process shaped like a test runner of run `run` (the env the sweep looks for). */
function fakeRunner(run: string, shape: 'server' | 'agent'): ChildProcess {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', MARIONETTE_TEST_RUN: run };
  if (shape === 'server') env.MARIONETTE_GATEWAY = `unix:${tmpdir()}/marionette-test-${run}/run/gateway.sock`;
  else env.MARIONETTE_TEST_AGENTS = '1';
  const p = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { env, stdio: 'ignore' });
  started.push(p);
  return p;
}

const alive = (p: ChildProcess) => p.exitCode === null && p.signalCode === null;

describe.runIf(process.platform === 'linux')('leftover sweep', () => {
  it("kills its own run's processes and leaves another run's alone", async () => {
    const mine = `mine-${randomBytes(4).toString('hex')}`;
    const other = `other-${randomBytes(4).toString('hex')}`;
    const myServerRunner = fakeRunner(mine, 'server');
    const myAgent = fakeRunner(mine, 'agent');
    const theirServerRunner = fakeRunner(other, 'server');
    const theirAgent = fakeRunner(other, 'agent');
    await until(
      async () => leftovers(mine).length === 2 && leftovers(other).length === 2,
      'the fake runners to be visible in /proc',
    );

    const killed = sweepLeftovers(mine, 0).map((l) => l.pid);
    expect(killed.sort()).toEqual([myServerRunner.pid, myAgent.pid].sort());
    await until(async () => !alive(myServerRunner) && !alive(myAgent), 'the sweep to kill this run’s processes');

    // Another run's processes: same environment shape, untouched.
    await new Promise((r) => setTimeout(r, 200));
    expect(alive(theirServerRunner)).toBe(true);
    expect(alive(theirAgent)).toBe(true);
    expect(
      leftovers(other)
        .map((l) => l.pid)
        .sort(),
    ).toEqual([theirServerRunner.pid, theirAgent.pid].sort());
  });
});
