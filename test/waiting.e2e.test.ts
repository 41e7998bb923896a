/**
 * Waiting you can see, through the real server and CLI: `--wait` says why a session waits and
 * `--timeout` ends the wait with a clear message; an idle session holding the only runner is
 * suspended so a waiting session runs (and resumed when it gets work again); `pools list` counts a
 * runner bound to an idle session as bound, not idle; `--follow | head -1` ends quietly.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, json, type ServerHandle, type SessionView, startServer, until } from './harness.js';

let srv: ServerHandle;
beforeAll(async () => {
  // One local runner at most, and idle sessions give it up at once.
  srv = await startServer({
    config: [
      'sessions:',
      '  preempt_min_idle: 0s',
      'pools:',
      '  local:',
      '    provider: local',
      '    max_runners: 1',
      '',
    ].join('\n'),
  });
});
afterAll(async () => {
  await srv?.destroy();
});

async function session(id: string): Promise<SessionView> {
  const r = await srv.api<SessionView>('GET', `/v1/sessions/${id}`);
  expect(r.status).toBe(200);
  return r.body;
}

/** Runs a shell pipeline with mctl's environment; returns its exit code and stderr. */
function pipeline(script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn('bash', ['-c', script], {
      env: {
        ...process.env,
        NODE_BIN: process.execPath,
        MCTL_JS: BIN.mctl,
        ERR_FILE: `${srv.home}/mctl.err`,
        MARIONETTE_SERVER: srv.apiUrl,
        MARIONETTE_TOKEN: srv.token,
        MARIONETTE_HOME: srv.home,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    p.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('--wait on a session no pool can take', () => {
  let sessionId: string;

  it('prints the waiting reason on stderr, and --timeout ends the wait with exit 124 and a hint', async () => {
    const r = await srv.mctl(
      [
        'sessions',
        'create',
        '--agent',
        'shell',
        '--prompt',
        'true',
        '--selector',
        'nosuch=x',
        '--wait',
        '--timeout',
        '5s',
      ],
      { timeoutMs: 30_000 },
    );
    expect(r.code, r.stderr).toBe(124);
    const waiting =
      /waiting: session (ses_\w+) scheduling: waiting for capacity: .*local \(local\): selector_mismatch, label nosuch missing/.exec(
        r.stderr,
      );
    expect(waiting, r.stderr).not.toBeNull();
    sessionId = waiting![1]!;
    expect(r.stderr).toMatch(
      /mctl: stopped waiting after 5s: task tsk_\w+ is still queued; session ses_\w+ is scheduling/,
    );
    expect(r.stderr).toContain(`mctl sessions explain ${sessionId}`);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    // The session was left as it was.
    const s = await session(sessionId);
    expect(s.state).toBe('scheduling');
    expect(s.tasks.map((t) => t.state)).toEqual(['queued']);
  });

  it('tasks create --wait --timeout says the same for a task queued in that session', async () => {
    const r = await srv.mctl(
      ['tasks', 'create', '--session', sessionId, '--prompt', 'true', '--wait', '--timeout', '2s'],
      {
        timeoutMs: 30_000,
      },
    );
    expect(r.code, r.stderr).toBe(124);
    expect(r.stderr).toMatch(/waiting: session ses_\w+ scheduling: waiting for capacity: .*selector_mismatch/);
    expect(r.stderr).toMatch(/stopped waiting after 2s: task tsk_\w+ is still queued/);
  });

  it('refuses a bad --timeout before creating anything', async () => {
    const before = (await srv.api<{ items: unknown[] }>('GET', '/v1/sessions?limit=1000')).body.items.length;
    for (const args of [
      ['--wait', '--timeout', 'soon'],
      ['--wait', '--timeout', '0'],
      ['--timeout', '5s'],
    ]) {
      const r = await srv.mctl(['sessions', 'create', '--agent', 'shell', '--prompt', 'true', ...args]);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/^mctl: --timeout/);
    }
    expect((await srv.api<{ items: unknown[] }>('GET', '/v1/sessions?limit=1000')).body.items.length).toBe(before);
    await srv.api('POST', `/v1/sessions/${sessionId}/cancel`);
  });
});

describe('--follow into a pipe that closes', () => {
  it('`mctl ... --follow | head -1` ends quietly, with status 0 and no EPIPE', async () => {
    const r = await pipeline(
      'set -o pipefail; "$NODE_BIN" "$MCTL_JS" sessions create --agent shell --prompt \'for i in $(seq 1 100); do echo line $i; sleep 0.05; done\' --follow 2>"$ERR_FILE" | head -1; code=$?; cat "$ERR_FILE" >&2; exit $code',
    );
    expect(r.stdout, r.stderr).toBe('line 1\n');
    expect(r.stderr).not.toMatch(/EPIPE|Error|\n\s+at /);
    expect(r.code, r.stderr).toBe(0);
    // Free the runner for the next tests.
    const list = await srv.api<{ items: { id: string; state: string }[] }>('GET', '/v1/sessions?limit=10');
    for (const s of list.body.items)
      if (!['cancelled', 'completed', 'failed'].includes(s.state)) await srv.api('POST', `/v1/sessions/${s.id}/cancel`);
    await until(
      async () => ((await srv.api<{ items: unknown[] }>('GET', '/v1/runners')).body.items.length === 0 ? true : null),
      'the runner to go',
      30_000,
    );
  }, 120000);
});

describe('an idle session holding the only runner', () => {
  let idleId: string;

  it('pools list counts its runner as bound, not idle', async () => {
    const a = await srv.mctl(['-o', 'json', 'sessions', 'create', '--agent', 'shell', '--prompt', 'echo a', '--wait'], {
      timeoutMs: 60_000,
    });
    expect(a.code, a.stderr).toBe(0);
    idleId = json<{ id: string }>(a).id;
    await until(async () => ((await session(idleId)).state === 'idle' ? true : null), 'session idle');
    const p = await srv.mctl(['-o', 'json', 'pools', 'list']);
    const local = json<{ name: string; runners: { live: number; idle: number; bound: number; busy: number } }[]>(
      p,
    ).find((x) => x.name === 'local')!;
    expect(local.runners).toEqual({ live: 1, idle: 0, bound: 1, busy: 0 });
    const t = await srv.mctl(['pools', 'list']);
    expect(t.stdout).toMatch(/local\s+managed\s+local\s+\S+\s+\S+\s+1 \(0 idle, 1 bound to idle sessions\)/);
  }, 150000);

  it('is suspended so a new session runs; sessions get and explain say it made room', async () => {
    const b = await srv.mctl(
      ['sessions', 'create', '--agent', 'shell', '--prompt', 'echo b', '--follow', '--timeout', '60s'],
      {
        timeoutMs: 90_000,
      },
    );
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toBe('b\n');
    const a = await session(idleId);
    expect(a.state).toBe('suspended');
    expect(a.stateReason).toMatch(
      /^suspended \(terminate_preserve_storage\) to make room for session ses_\w+ waiting on pool local/,
    );
    const events = await srv.api<{ items: { type: string; data: Record<string, unknown> }[] }>(
      'GET',
      `/v1/sessions/${idleId}/events`,
    );
    expect(events.body.items.find((e) => e.type === 'preempted')?.data).toMatchObject({
      pool: 'local',
      strategy: 'terminate_preserve_storage',
    });
    const get = await srv.mctl(['sessions', 'get', idleId]);
    expect(get.stdout).toContain('to make room for session');
    const explain = await srv.mctl(['sessions', 'explain', idleId]);
    expect(explain.stdout).toMatch(/\(suspended\): suspended \(terminate_preserve_storage\) to make room for session/);
  }, 150000);

  it('a session suspended to make room runs its next task (the other idle session gives way in turn)', async () => {
    const r = await srv.mctl(
      ['tasks', 'create', '--session', idleId, '--prompt', 'echo again', '--follow', '--timeout', '60s'],
      {
        timeoutMs: 90_000,
      },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('again\n');
    const sessions = await srv.api<{ items: { id: string; state: string; stateReason: string | null }[] }>(
      'GET',
      '/v1/sessions?limit=10',
    );
    const other = sessions.body.items.find((s) => s.id !== idleId && s.state === 'suspended');
    expect(other?.stateReason).toContain(`to make room for session ${idleId}`);
  }, 150000);
});

describe('preemption switched off for a pool, and bad values', () => {
  it('refuses a --preempt-idle that is not true, false or default, and a non-boolean preemptIdle', async () => {
    const r = await srv.mctl(['pools', 'update', 'local', '--preempt-idle', 'maybe']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^mctl: --preempt-idle "maybe": expected true, false or default/);
    const api = await srv.api<{ detail: string }>('PATCH', '/v1/pools/local', {
      suspendConfig: { preemptIdle: 'yes' },
    });
    expect(api.status).toBe(400);
    expect(api.body.detail).toMatch(/suspendConfig\.preemptIdle/);
  });

  it('with --preempt-idle false the idle session keeps its runner and the new one waits', async () => {
    const off = await srv.mctl(['pools', 'update', 'local', '--preempt-idle', 'false']);
    expect(off.code, off.stderr).toBe(0);
    const holders = (
      await srv.api<{ items: { id: string; state: string }[] }>('GET', '/v1/sessions?limit=50&state=idle')
    ).body.items;
    expect(holders).toHaveLength(1);
    const r = await srv.mctl(
      ['sessions', 'create', '--agent', 'shell', '--prompt', 'true', '--wait', '--timeout', '5s'],
      {
        timeoutMs: 30_000,
      },
    );
    expect(r.code, r.stderr).toBe(124);
    expect(r.stderr).toMatch(/waiting: session ses_\w+ scheduling: waiting for capacity: .*at_capacity/);
    expect((await session(holders[0]!.id)).state).toBe('idle');
    // Back to the server's default: the waiting session gets the runner.
    const on = await srv.mctl(['pools', 'update', 'local', '--preempt-idle', 'default']);
    expect(on.code, on.stderr).toBe(0);
    const waiting = /session (ses_\w+) scheduling/.exec(r.stderr)![1]!;
    await until(
      async () => ((await session(waiting)).tasks[0]?.state === 'succeeded' ? true : null),
      'the waiting session to run',
      60_000,
    );
    expect((await session(holders[0]!.id)).state).toBe('suspended');
  }, 150000);
});

describe('more waiting sessions than idle ones to suspend', () => {
  let big: ServerHandle;
  beforeAll(async () => {
    big = await startServer({
      config: [
        'sessions:',
        '  preempt_min_idle: 0s',
        'pools:',
        '  local:',
        '    provider: local',
        '    max_runners: 2',
        '',
      ].join('\n'),
    });
  });
  afterAll(async () => {
    await big?.destroy();
  });

  it('every session runs, never more than max_runners live, each idle session suspended at most once per wait', async () => {
    const first: string[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await big.api<{ id: string }>('POST', '/v1/sessions', { agent: 'shell', prompt: `echo first ${i}` });
      expect(r.status).toBe(201);
      first.push(r.body.id);
    }
    const stateOf = async (id: string) => (await big.api<SessionView>('GET', `/v1/sessions/${id}`)).body;
    await until(
      async () => {
        for (const id of first) if ((await stateOf(id)).state !== 'idle') return null;
        return true;
      },
      'the first two sessions idle',
      60_000,
    );
    const later: string[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await big.api<{ id: string }>('POST', '/v1/sessions', { agent: 'shell', prompt: `echo later ${i}` });
      expect(r.status).toBe(201);
      later.push(r.body.id);
    }
    let most = 0;
    await until(
      async () => {
        const live = (await big.api<{ items: unknown[] }>('GET', '/v1/runners')).body.items.length;
        most = Math.max(most, live);
        for (const id of later) if ((await stateOf(id)).tasks[0]?.state !== 'succeeded') return null;
        return true;
      },
      'all six later sessions to run',
      120_000,
    );
    expect(most).toBeLessThanOrEqual(2);
    // The first two were suspended to make room, once each.
    for (const id of first) {
      const s = await stateOf(id);
      expect(s.state).toBe('suspended');
      const ev = (await big.api<{ items: { type: string }[] }>('GET', `/v1/sessions/${id}/events`)).body.items;
      expect(ev.filter((e) => e.type === 'preempted')).toHaveLength(1);
    }
  }, 240000);
});
