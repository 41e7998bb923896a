/**
 * Exactly one live attempt, with real processes on the `local` provider:
 * - a runner killed with SIGKILL mid-task: its task's process group (a group of its own, so it
 *   outlives the agent) is killed before the task is lost and retried, so the retry never runs
 *   beside it in the same workspace;
 * - a runner cut off from the server (the server stopped with SIGSTOP for longer than the lease)
 *   kills its own task before the lease lapses, and the task is retried once the server is back;
 * - a runner told to drop a task it still runs (`task.stop`, here after a forced cancel while the
 *   agent was stopped; `welcome.resume.keep = false` takes the same path) SIGKILLs its group at
 *   once and starts the next task only when it is gone, even when the task ignores SIGTERM.
 * Each attempt appends to a beat file of its own every 100 ms; a dead attempt's file stops growing.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { fenceMargin } from '../src/agent/fence.js';
import { groupMembers, readTaskPid } from '../src/agent/procs.js';
import { processesWithEnv, type ServerHandle, startServer, type TaskView, until } from './harness.js';

const servers: ServerHandle[] = [];
afterAll(async () => {
  for (const s of servers) {
    try {
      s.proc.kill('SIGCONT');
    } catch {
      /* gone */
    }
    await s.destroy();
  }
});

/** First attempt: beats forever. A retry (the marker exists) beats for 3 s more, then succeeds. */
const PROMPT = [
  'beat() { while :; do date +%s%N >> "beat-$MARIONETTE_TASK_ID"; sleep 0.1; done; }',
  'if [ -e first-ran ]; then (beat) & sleep 3; kill $!; echo retry-done; exit 0; fi',
  'touch first-ran; beat',
].join('\n');

async function tasksOf(srv: ServerHandle, sessionId: string): Promise<TaskView[]> {
  return (await srv.api<{ items: TaskView[] }>('GET', `/v1/tasks?session=${sessionId}`)).body.items;
}

function size(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** Whether `file` grows within `ms`. */
async function grows(file: string, ms = 1000): Promise<boolean> {
  const before = size(file);
  await sleep(ms);
  return size(file) > before;
}

interface Running {
  srv: ServerHandle;
  sessionId: string;
  first: TaskView;
  workspace: string;
  agentPid: number;
  taskPgid: number;
}

async function startAttempt(config: string): Promise<Running> {
  const srv = await startServer({ config });
  servers.push(srv);
  const s = await srv.api<{ id: string; tasks: TaskView[] }>('POST', '/v1/sessions', {
    agent: 'shell',
    prompt: PROMPT,
    maxRetries: 1,
  });
  expect(s.status).toBe(201);
  const first = await until(async () => {
    const t = (await tasksOf(srv, s.body.id))[0];
    return t?.state === 'running' ? t : null;
  }, 'the first attempt running');
  const runner = (
    await srv.api<{ handle: { externalId: string; metadata: { workspace: string; stateDir: string } } }>(
      'GET',
      `/v1/runners/${first.runnerId}`,
    )
  ).body;
  const workspace = runner.handle.metadata.workspace;
  await until(async () => size(join(workspace, `beat-${first.id}`)) > 0, 'the first attempt beating');
  const recorded = readTaskPid(join(runner.handle.metadata.stateDir, 'task.pid'));
  expect(recorded).not.toBeNull();
  return {
    srv,
    sessionId: s.body.id,
    first,
    workspace,
    agentPid: Number(runner.handle.externalId),
    taskPgid: recorded!.pgid,
  };
}

describe('a local runner killed with SIGKILL mid-task', () => {
  it('has its task group killed before the retry starts: one live attempt', async () => {
    const r = await startAttempt('runners:\n  heartbeat_interval: 200ms\n  lease_timeout: 1500ms\n');
    expect(groupMembers(r.taskPgid).length).toBeGreaterThan(0);
    process.kill(r.agentPid, 'SIGKILL'); // the agent only; its task is in a group of its own
    const retry = await until(
      async () => {
        const ts = await tasksOf(r.srv, r.sessionId);
        return ts.find((t) => t.retryOf === r.first.id && t.state === 'running') ?? null;
      },
      'the retry running',
      30_000,
    );
    // By the time the retry runs, the first attempt is gone, group and all.
    expect(processesWithEnv('MARIONETTE_TASK_ID', r.first.id)).toEqual([]);
    expect(groupMembers(r.taskPgid)).toEqual([]);
    expect(processesWithEnv('MARIONETTE_TASK_ID', retry.id).length).toBeGreaterThan(0);
    await until(async () => size(join(r.workspace, `beat-${retry.id}`)) > 0, 'the retry beating');
    expect(await grows(join(r.workspace, `beat-${r.first.id}`))).toBe(false);
    const lost = (await tasksOf(r.srv, r.sessionId)).find((t) => t.id === r.first.id)!;
    expect(lost.state).toBe('lost');
    const done = await until(
      async () => (await tasksOf(r.srv, r.sessionId)).find((t) => t.id === retry.id && t.state === 'succeeded'),
      'the retry succeeded',
      30_000,
    );
    expect(done.attempt).toBe(2);
  });
});

describe('a local runner cut off from the server for longer than its lease', () => {
  it('kills its own task before the lease lapses; the task is retried when the server is back', async () => {
    const leaseMs = 3000;
    const r = await startAttempt(`runners:\n  heartbeat_interval: 300ms\n  lease_timeout: ${leaseMs}ms\n`);
    const beats = join(r.workspace, `beat-${r.first.id}`);
    const stoppedAt = Date.now();
    r.srv.proc.kill('SIGSTOP'); // the gateway accepts nothing and answers nothing
    try {
      await until(
        async () => (processesWithEnv('MARIONETTE_TASK_ID', r.first.id).length === 0 ? true : null),
        'the runner to kill its own task',
        3 * leaseMs,
      );
      // While the server is still stopped, and not before the lease (less the fence margin) went unconfirmed.
      const said = /has not confirmed this runner's lease for ([\d.]+) s: killing task (\S+)/.exec(
        readFileSync(join(r.srv.home, 'runners', `${r.first.runnerId}.log`), 'utf8'),
      );
      expect(said?.[2]).toBe(r.first.id);
      expect(Number(said?.[1]) * 1000).toBeGreaterThanOrEqual(leaseMs - fenceMargin(leaseMs) - 100);
      expect(Date.now() - stoppedAt).toBeLessThan(3 * leaseMs);
      expect(groupMembers(r.taskPgid)).toEqual([]);
      expect(await grows(beats)).toBe(false);
      // The agent itself is alive: it fenced, it did not die.
      expect(() => process.kill(r.agentPid, 0)).not.toThrow();
    } finally {
      r.srv.proc.kill('SIGCONT');
    }
    // After the lease lapses the runner is lost and terminated, and the retry may need a new runner
    // started cold: on a loaded machine that takes a while. A timeout says where it stood.
    const retry = await until(
      async () =>
        (await tasksOf(r.srv, r.sessionId)).find((t) => t.retryOf === r.first.id && t.state === 'succeeded') ?? null,
      'the retry to succeed',
      120_000,
    ).catch(async (e: unknown) => {
      const events = await r.srv.api('GET', `/v1/sessions/${r.sessionId}/events`);
      throw new Error(
        `${(e as Error).message}\ntasks: ${JSON.stringify(await tasksOf(r.srv, r.sessionId))}\nevents: ${JSON.stringify(events.body)}`,
      );
    });
    const first = (await tasksOf(r.srv, r.sessionId)).find((t) => t.id === r.first.id)!;
    expect(first.state).toBe('lost');
    expect(retry.attempt).toBe(2);
    expect(await grows(beats)).toBe(false);
  }, 180_000);
});

describe('a runner told to drop the task it runs', () => {
  it('kills its whole group before it starts the next task, even a group that ignores SIGTERM', async () => {
    const srv = await startServer({ config: 'runners:\n  lease_timeout: 2m\n' });
    servers.push(srv);
    const s = await srv.api<{ id: string; tasks: TaskView[] }>('POST', '/v1/sessions', {
      agent: 'shell',
      prompt: "trap '' TERM; while :; do date +%s%N >> beat-first; sleep 0.1; done",
    });
    expect(s.status).toBe(201);
    const first = await until(async () => {
      const t = (await tasksOf(srv, s.body.id))[0];
      return t?.state === 'running' ? t : null;
    }, 'the first task running');
    const runner = (
      await srv.api<{ handle: { externalId: string; metadata: { workspace: string } } }>(
        'GET',
        `/v1/runners/${first.runnerId}`,
      )
    ).body;
    const workspace = runner.handle.metadata.workspace;
    await until(async () => size(join(workspace, 'beat-first')) > 0, 'the first task beating');
    // The next task measures whether the first one is still beating while it runs.
    const second = await srv.api<TaskView>('POST', `/v1/sessions/${s.body.id}/tasks`, {
      prompt:
        'a=$(wc -c < beat-first); sleep 1; b=$(wc -c < beat-first); [ "$a" = "$b" ] && echo alone || echo overlap',
    });
    expect(second.status).toBe(201);
    const agentPid = Number(runner.handle.externalId);
    process.kill(agentPid, 'SIGSTOP'); // it cannot answer the cancel: after 10 s the server forces it
    try {
      expect((await srv.api('POST', `/v1/tasks/${first.id}/cancel`)).status).toBeLessThan(300);
      await until(
        async () =>
          (await tasksOf(srv, s.body.id)).find((t) => t.id === first.id)?.state === 'cancelled' ? true : null,
        'the forced cancel',
        30_000,
      );
      // The next task is already assigned to the stopped runner, behind task.cancel and task.stop.
      await until(
        async () =>
          (await tasksOf(srv, s.body.id)).find((t) => t.id === second.body.id)?.state === 'assigned' ? true : null,
        'the next task assigned',
        30_000,
      );
    } finally {
      process.kill(agentPid, 'SIGCONT');
    }
    const done = await until(
      async () => {
        const t = (await tasksOf(srv, s.body.id)).find((x) => x.id === second.body.id);
        return t && ['succeeded', 'failed'].includes(t.state) ? t : null;
      },
      'the next task to finish',
      30_000,
    );
    expect(done.state).toBe('succeeded');
    const lines = (await srv.api<{ items: { line: string; stream: string }[] }>('GET', `/v1/tasks/${done.id}/logs`))
      .body.items;
    expect(lines.filter((l) => l.stream === 'stdout').map((l) => l.line)).toEqual(['alone']);
    expect(processesWithEnv('MARIONETTE_TASK_ID', first.id)).toEqual([]);
  });
});
