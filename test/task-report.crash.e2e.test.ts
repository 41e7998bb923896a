/**
 * @module A real server killed with SIGKILL while it records a task's end (the test-only
 * `MARIONETTE_FAULT` crash points `task:finished:received`, before the commit, and
 * `task:finished:committed`, after it but before the ack), then started again on the same home
 * and gateway port. The runner (a real `marionette-agent` dialed in from a pool) lets go of its
 * result only at the ack, so either way the task ends once, with its result, and never runs twice.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type ServerHandle, type SessionView, startServer, type TaskView, until } from './harness.js';
import { Agents, createToken, idleRunners } from './pools.helpers.js';

const agents = new Agents();
const servers: ServerHandle[] = [];
const dirs: string[] = [];
afterEach(() => agents.cleanup());
afterAll(async () => {
  for (const s of servers) await s.destroy();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('a server killed while it records a task end', () => {
  for (const point of ['task:finished:received', 'task:finished:committed']) {
    it(`at ${point}: the task ends once, succeeded, and ran once`, async () => {
      const first = await startServer({ env: { MARIONETTE_FAULT: point } });
      servers.push(first);
      const p = await first.mctl(['pools', 'create', 'farm', '--mode', 'pool', '--provider', 'pool']);
      expect(p.code, p.stderr).toBe(0);
      const { token } = await createToken(first, ['--pool', 'farm']);
      const agent = agents.start(first, ['--token', token, '--name', 'reporter']);
      await idleRunners(first, 'farm', 1);
      const marks = mkdtempSync(join(tmpdir(), 'marionette-runs-'));
      dirs.push(marks);
      const died = new Promise<string | null>((resolve) => first.proc.once('exit', (_c, signal) => resolve(signal)));
      const created = await first.api<SessionView>('POST', '/v1/sessions', {
        agent: 'shell',
        pool: 'farm',
        prompt: `echo ran >> ${join(marks, 'runs')}; echo the-result`,
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const timeout = new Promise<string>((r) => setTimeout(() => r('still running after 60 s'), 60_000));
      expect(await Promise.race([died, timeout]), 'the server should have died at its crash point').toBe('SIGKILL');

      const again = await startServer({ home: first.home, gatewayPort: first.gatewayPort });
      servers.push(again);
      const tasks = await until(async () => {
        const s = (await again.api<SessionView>('GET', `/v1/sessions/${created.body.id}`)).body;
        return s.tasks.every((t: TaskView) => ['succeeded', 'failed', 'lost', 'cancelled'].includes(t.state))
          ? s.tasks
          : null;
      }, `the task to end after the restart:\n${agent.output()}`);
      expect(tasks.map((t: TaskView) => [t.state, t.attempt])).toEqual([['succeeded', 1]]);
      expect(tasks[0]!.exitCode).toBe(0);
      const log = await again.mctl(['tasks', 'logs', tasks[0]!.id]);
      expect(log.stdout).toContain('the-result');
      expect(readFileSync(join(marks, 'runs'), 'utf8')).toBe('ran\n');
      // The runner is still the same one, and takes the next task.
      const next = await again.mctl(['tasks', 'create', '--session', created.body.id, '--prompt', 'true', '--wait']);
      expect(next.code, next.stderr).toBe(0);
      expect(agent.proc.exitCode).toBeNull();
    }, 120_000);
  }
});
