/**
 * `release_to_pool` for pool runners: suspending gives the runner back to its pool (idle,
 * unbound); resuming places the session again and may land on another runner.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerHandle, type SessionView, startServer, type TaskView, until } from './harness.js';
import { Agents, createToken, idleRunners } from './pools.helpers.js';

let srv: ServerHandle;
const agents = new Agents();
beforeAll(async () => {
  srv = await startServer();
  const p = await srv.mctl(['pools', 'create', 'farm', '--mode', 'pool', '--provider', 'pool', '--priority', '10']);
  expect(p.code, p.stderr).toBe(0);
  const { token } = await createToken(srv, ['--pool', 'farm']);
  agents.start(srv, ['--token', token, '--name', 'a', '--labels', 'who=a']);
  agents.start(srv, ['--token', token, '--name', 'b', '--labels', 'who=b']);
  await idleRunners(srv, 'farm', 2);
});
afterAll(async () => {
  agents.cleanup();
  await srv?.destroy();
});

const session = async (id: string) => (await srv.api<SessionView>('GET', `/v1/sessions/${id}`)).body;

describe('release_to_pool', () => {
  it('returns the runner to the pool and resumes on another runner', async () => {
    const created = await srv.api<SessionView>('POST', '/v1/sessions', {
      agent: 'shell',
      pool: 'farm',
      prompt: 'echo first',
    });
    expect(created.status).toBe(201);
    const sid = created.body.id;
    const first = await until(async () => {
      const s = await session(sid);
      return s.tasks[0]?.state === 'succeeded' && s.state === 'idle' ? s : null;
    }, 'first task done');
    const firstRunner = first.runnerId!;
    const sus = await srv.mctl(['-o', 'json', 'sessions', 'suspend', sid]);
    expect(sus.code, sus.stderr).toBe(0);
    const suspended = await until(async () => {
      const s = await session(sid);
      return s.state === 'suspended' ? s : null;
    }, 'suspended');
    expect(suspended.runnerId).toBeNull();
    const r = (
      await srv.api<{ state: string; sessionId: string | null; labels: Record<string, string> }>(
        'GET',
        `/v1/runners/${firstRunner}`,
      )
    ).body;
    expect(r).toMatchObject({ state: 'idle', sessionId: null });
    // Occupy exactly that runner with another session, so the resumed session must go elsewhere.
    const other = await srv.api<SessionView>('POST', '/v1/sessions', {
      agent: 'shell',
      pool: 'farm',
      selector: `who=${r.labels.who}`,
      prompt: 'sleep 20',
    });
    await until(
      async () => (await session(other.body.id)).runnerId === firstRunner,
      'other session on the first runner',
    );
    const res = await srv.mctl(['sessions', 'resume', sid]);
    expect(res.code, res.stderr).toBe(0);
    const t = await srv.mctl(['-o', 'json', 'tasks', 'create', '--session', sid, '--prompt', 'echo second', '--wait']);
    expect(t.code, t.stderr).toBe(0);
    const second = (await srv.api<TaskView>('GET', `/v1/tasks/${JSON.parse(t.stdout).id}`)).body;
    expect(second.state).toBe('succeeded');
    expect(second.runnerId).not.toBeNull();
    expect(second.runnerId).not.toBe(firstRunner);
    await srv.mctl(['sessions', 'cancel', other.body.id]);
  });
});
