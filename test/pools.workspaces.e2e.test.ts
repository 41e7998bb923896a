/**
 * Per-session workspaces on a runner that dials in: each session's tasks run in a directory of
 * its own under the agent's work root, so the next session on the same runner does not see the
 * files of the one before; the directory stays while the session lives (a `release_to_pool`
 * suspend and resume on the same runner finds it), goes when the session ends, and an agent
 * restarted after a crash removes those of sessions that ended while it was away.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerHandle, type SessionView, startServer, type TaskView, until } from './harness.js';
import { type AgentProc, Agents, createToken, idleRunners } from './pools.helpers.js';

let srv: ServerHandle;
const agents = new Agents();
let agent: AgentProc;
let root = '';

beforeAll(async () => {
  srv = await startServer();
  const p = await srv.mctl(['pools', 'create', 'ws', '--mode', 'pool', '--provider', 'pool', '--priority', '10']);
  expect(p.code, p.stderr).toBe(0);
  const { token } = await createToken(srv, ['--pool', 'ws']);
  agent = agents.start(srv, ['--token', token, '--name', 'only']);
  root = agent.dir;
  await idleRunners(srv, 'ws', 1);
});
afterAll(async () => {
  agents.cleanup();
  await srv?.destroy();
});

const session = async (id: string) => (await srv.api<SessionView>('GET', `/v1/sessions/${id}`)).body;

/** Runs `prompt` as a new task of session `sid` (or a new session) and returns its stdout lines. */
async function run(
  prompt: string,
  sid?: string,
  pool = 'ws',
): Promise<{ sid: string; lines: string[]; task: TaskView }> {
  let taskId: string;
  if (sid) {
    const t = await srv.api<TaskView>('POST', `/v1/sessions/${sid}/tasks`, { prompt });
    expect(t.status, JSON.stringify(t.body)).toBe(201);
    taskId = t.body.id;
  } else {
    const s = await srv.api<SessionView>('POST', '/v1/sessions', { agent: 'shell', pool, prompt });
    expect(s.status, JSON.stringify(s.body)).toBe(201);
    sid = s.body.id;
    taskId = s.body.tasks[0]!.id;
  }
  const task = await until(
    async () => {
      const t = (await srv.api<TaskView>('GET', `/v1/tasks/${taskId}`)).body;
      return ['succeeded', 'failed', 'lost', 'cancelled', 'timed_out'].includes(t.state) ? t : null;
    },
    `task ${taskId} to end`,
    30_000,
  );
  expect(task.state, task.error ?? '').toBe('succeeded');
  const logs = await srv.mctl(['sessions', 'logs', sid]);
  return { sid, task, lines: logs.stdout.split('\n').filter(Boolean) };
}

async function settle(sid: string, states: string[]): Promise<void> {
  await until(async () => states.includes((await session(sid)).state), `session ${sid} to be ${states.join('/')}`);
}

describe('per-session workspaces on a pool runner', { timeout: 120_000 }, () => {
  it('gives each session its own directory, kept while it lives and removed when it ends', async () => {
    const one = await run('pwd; echo from-one > secret.txt');
    const dirOne = join(root, 'sessions', one.sid);
    expect(one.lines[0]).toBe(dirOne);
    expect(readFileSync(join(dirOne, 'secret.txt'), 'utf8')).toBe('from-one\n');
    await settle(one.sid, ['idle']);

    // Session one lets go of the runner but lives on (release_to_pool): its directory stays.
    const sus = await srv.mctl(['sessions', 'suspend', one.sid]);
    expect(sus.code, sus.stderr).toBe(0);
    await settle(one.sid, ['suspended']);

    // Session two on the same (only) runner starts in an empty directory of its own.
    const two = await run('pwd; ls -A; cat secret.txt 2>/dev/null || echo no-secret');
    expect(two.task.runnerId).toBe(one.task.runnerId);
    expect(two.lines).toEqual([join(root, 'sessions', two.sid), 'no-secret']);
    expect(existsSync(join(dirOne, 'secret.txt'))).toBe(true);

    // Two ends: its directory goes, one's stays.
    expect((await srv.mctl(['sessions', 'cancel', two.sid])).code).toBe(0);
    await until(async () => !existsSync(join(root, 'sessions', two.sid)), 'session two’s workspace to be removed');
    expect(existsSync(dirOne)).toBe(true);

    // One resumes on the same runner and finds its files; when it ends, its directory goes.
    expect((await srv.mctl(['sessions', 'resume', one.sid])).code).toBe(0);
    const again = await run('cat secret.txt', one.sid);
    expect(again.lines.at(-1)).toBe('from-one');
    expect((await srv.mctl(['sessions', 'cancel', one.sid])).code).toBe(0);
    await until(async () => !existsSync(dirOne), 'session one’s workspace to be removed');
    expect(readdirSync(join(root, 'sessions'))).toEqual([]);
  });

  it('an agent restarted after a crash removes the workspaces of sessions that ended meanwhile', async () => {
    const p = await srv.mctl(['pools', 'create', 'ws2', '--mode', 'pool', '--provider', 'pool']);
    expect(p.code, p.stderr).toBe(0);
    const { token: token2 } = await createToken(srv, ['--pool', 'ws2']);
    // A state dir keeps the runner's credential: the restarted agent rejoins as the same runner.
    const args = ['--token', token2, '--name', 'crashy'];
    let crashy = agents.start(srv, args);
    const root2 = crashy.dir;
    args.push('--workspace', root2, '--state-dir', join(root2, 'state'));
    crashy.kill('SIGKILL');
    crashy = agents.start(srv, args);
    await idleRunners(srv, 'ws2', 1);

    const live = await run('echo keep > mine.txt', undefined, 'ws2');
    await settle(live.sid, ['idle']);
    expect((await srv.mctl(['sessions', 'suspend', live.sid])).code).toBe(0);
    await settle(live.sid, ['suspended']);
    const ended = await run('echo gone > mine.txt', undefined, 'ws2');
    expect(ended.task.runnerId).toBe(live.task.runnerId);
    await settle(ended.sid, ['idle']);

    // The agent dies without a word; meanwhile `ended` is cancelled, and a directory of a session
    // that never existed sits in the work root.
    crashy.kill('SIGKILL');
    await crashy.exited;
    expect((await srv.mctl(['sessions', 'cancel', ended.sid])).code).toBe(0);
    await settle(ended.sid, ['cancelled']);
    mkdirSync(join(root2, 'sessions', 'ses_neverexisted'), { recursive: true });
    expect(existsSync(join(root2, 'sessions', ended.sid, 'mine.txt'))).toBe(true);

    crashy = agents.start(srv, args);
    await until(
      async () =>
        !existsSync(join(root2, 'sessions', ended.sid)) && !existsSync(join(root2, 'sessions', 'ses_neverexisted')),
      'the restarted agent to sweep the workspaces of ended sessions',
    );
    // The suspended session lives on: its workspace stays.
    expect(readFileSync(join(root2, 'sessions', live.sid, 'mine.txt'), 'utf8')).toBe('keep\n');
    expect((await srv.mctl(['sessions', 'cancel', live.sid])).code).toBe(0);
    await until(async () => !existsSync(join(root2, 'sessions', live.sid)), 'the last workspace to be removed');
  });
});
