/**
 * End to end through the real programs: `marionette serve`, the local provider's runner
 * processes, and `mctl`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  json,
  type ServerHandle,
  type SessionView as Session,
  startServer,
  type TaskView as Task,
  until,
} from './harness.js';

let srv: ServerHandle;

beforeAll(async () => {
  srv = await startServer();
});
afterAll(async () => {
  await srv?.destroy();
});

describe('a shell session from mctl to output', () => {
  it('runs, waits, and prints the output exactly once', async () => {
    const created = await srv.mctl([
      '-o',
      'json',
      'sessions',
      'create',
      '--agent',
      'shell',
      '--prompt',
      'echo hello-X; echo to-stderr >&2',
      '--wait',
    ]);
    expect(created.code, created.stderr).toBe(0);
    const session = json<Session>(created);
    expect(session.id).toMatch(/^ses_/);
    const logs = await srv.mctl(['sessions', 'logs', session.id]);
    expect(logs.code).toBe(0);
    expect(logs.stdout.split('\n').filter((l) => l === 'hello-X')).toHaveLength(1);
    expect(logs.stderr).toContain('to-stderr');
    const got = json<Session>(await srv.mctl(['-o', 'json', 'sessions', 'get', session.id]));
    expect(got.tasks[0]?.state).toBe('succeeded');
    expect(got.tasks[0]?.exitCode).toBe(0);
  });

  it('reuses the session runner for the next task and keeps the workspace', async () => {
    const s = json<Session>(
      await srv.mctl([
        '-o',
        'json',
        'sessions',
        'create',
        '--agent',
        'shell',
        '--prompt',
        'echo kept > state.txt',
        '--wait',
      ]),
    );
    const first = await srv.api<Session>('GET', `/v1/sessions/${s.id}`);
    const runner = (first.body as unknown as { runnerId: string }).runnerId;
    const t = await srv.mctl([
      '-o',
      'json',
      'tasks',
      'create',
      '--session',
      s.id,
      '--prompt',
      'cat state.txt',
      '--wait',
    ]);
    expect(t.code, t.stderr).toBe(0);
    const again = await srv.api<{ runnerId: string; tasks: Task[] }>('GET', `/v1/sessions/${s.id}`);
    expect(again.body.runnerId).toBe(runner);
    const logs = await srv.mctl(['tasks', 'logs', again.body.tasks[1]!.id]);
    expect(logs.stdout.trim()).toBe('kept');
  });

  it('exits non-zero with --wait when the task fails, with the exit code', async () => {
    const r = await srv.mctl(['sessions', 'create', '--agent', 'shell', '--prompt', 'exit 7', '--wait']);
    expect(r.code).toBe(7);
    expect(r.stderr).toContain('exit code 7');
  });

  it('follows output live with --follow', async () => {
    const r = await srv.mctl([
      'sessions',
      'create',
      '--agent',
      'shell',
      '--prompt',
      'for i in 1 2 3; do echo tick-$i; sleep 0.2; done',
      '--follow',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n').filter((l) => l.startsWith('tick-'))).toEqual(['tick-1', 'tick-2', 'tick-3']);
  });

  it('names the valid agents when the agent is unknown', async () => {
    const r = await srv.mctl(['sessions', 'create', '--agent', 'nope', '--prompt', 'x']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('unknown agent "nope"');
    for (const a of ['shell', 'claude', 'codex']) expect(r.stderr).toContain(a);
  });

  it('fails a task whose agent binary is missing, naming the binary', async () => {
    const r = await srv.mctl(
      [
        '-o',
        'json',
        'sessions',
        'create',
        '--agent',
        'claude',
        '--prompt',
        'hi',
        '--env',
        'ANTHROPIC_API_KEY=test-key',
        '--wait',
      ],
      {
        env: { PATH: '/usr/bin:/bin' },
      },
    );
    expect(r.code).not.toBe(0);
    const task = (await srv.api<{ items: Task[] }>('GET', '/v1/tasks?limit=1')).body.items[0]!;
    expect(task.state).toBe('failed');
    expect(task.error).toContain('"claude" not found');
  });

  it('fails a claude task without ANTHROPIC_API_KEY, naming the variable', async () => {
    const r = await srv.mctl(['sessions', 'create', '--agent', 'claude', '--prompt', 'hi', '--wait']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('ANTHROPIC_API_KEY');
  });

  it('lists sessions, tasks, runners and pools in every output format', async () => {
    for (const what of [
      ['sessions', 'list'],
      ['tasks', 'list'],
      ['runners', 'list'],
      ['pools', 'list'],
    ]) {
      const j = await srv.mctl(['-o', 'json', ...what]);
      expect(j.code, j.stderr).toBe(0);
      expect(Array.isArray(JSON.parse(j.stdout))).toBe(true);
      const y = await srv.mctl(['-o', 'yaml', ...what]);
      expect(y.code).toBe(0);
      const t = await srv.mctl(what);
      expect(t.code).toBe(0);
      expect(t.stdout.split('\n')[0]).toMatch(/^(ID|NAME)\s/);
    }
    const pools = JSON.parse((await srv.mctl(['-o', 'json', 'pools', 'list'])).stdout) as { name: string }[];
    expect(pools.map((p) => p.name)).toContain('local');
  });
});

describe('cancel', () => {
  it('kills the whole process group of a running task', async () => {
    const marker = `mrn-cancel-${Date.now()}`;
    const created = await srv.api<Session>('POST', '/v1/sessions', {
      agent: 'shell',
      prompt: `bash -c 'sleep 300; echo ${marker}' & sleep 300`,
    });
    expect(created.status).toBe(201);
    const taskId = created.body.tasks[0]!.id;
    await until(
      async () => (await srv.api<Task>('GET', `/v1/tasks/${taskId}`)).body.state === 'running',
      'task running',
    );
    const before = await until(async () => {
      const pids = await pidsRunning(marker);
      return pids.length >= 2 ? pids : null;
    }, 'task processes started');
    const r = await srv.mctl(['tasks', 'cancel', taskId]);
    expect(r.code, r.stderr).toBe(0);
    const done = await until(async () => {
      const t = (await srv.api<Task>('GET', `/v1/tasks/${taskId}`)).body;
      return t.state === 'cancelled' ? t : null;
    }, 'task cancelled');
    expect(done.state).toBe('cancelled');
    await until(
      async () => (await pidsRunning(marker)).filter((p) => before.includes(p)).length === 0,
      'process group gone',
    );
  });

  it('cancels a session and its queued tasks', async () => {
    const created = await srv.api<Session>('POST', '/v1/sessions', { agent: 'shell', prompt: 'sleep 300' });
    const sid = created.body.id;
    const queued = await srv.api<Task>('POST', `/v1/sessions/${sid}/tasks`, { prompt: 'echo never' });
    // Cancel once a runner holds the session: only a runner that ran for it has a cost to record
    // (a session cancelled while still queued had none, and the ledger rightly stays empty).
    await until(async () => {
      const x = (await srv.api<Session>('GET', `/v1/sessions/${sid}`)).body;
      return x.tasks.some((t) => t.state === 'running') ? x : null;
    }, 'first task running');
    const r = await srv.mctl(['sessions', 'cancel', sid]);
    expect(r.code, r.stderr).toBe(0);
    const s = await until(async () => {
      const x = (await srv.api<Session>('GET', `/v1/sessions/${sid}`)).body;
      return x.tasks.every((t) => ['cancelled'].includes(t.state)) ? x : null;
    }, 'all tasks cancelled');
    expect(s.state).toBe('cancelled');
    expect(s.tasks.find((t) => t.id === queued.body.id)?.state).toBe('cancelled');
    // Its runner stopped, so the ledger has a cost event for it.
    const costs = await until(async () => {
      const r = json<{ items: { billingModel: string; seconds: number; providerId: string }[] }>(
        await srv.mctl(['-o', 'json', 'costs', 'list', '--session', sid]),
      );
      return r.items.length ? r.items : null;
    }, 'cost event');
    expect(costs[0]).toMatchObject({ providerId: 'local', billingModel: 'fixed' });
    expect(costs[0]!.seconds).toBeGreaterThan(0);
  });
});

/** Pids of processes whose command line contains `text`. */
async function pidsRunning(text: string): Promise<number[]> {
  const { readdirSync, readFileSync } = await import('node:fs');
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').join(' ').includes(text)) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}
