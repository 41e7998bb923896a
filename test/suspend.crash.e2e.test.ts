/**
 * @module A real server killed with SIGKILL in the middle of a `release_to_pool` suspend (pool
 * runners, no Docker), at an exact step (the test-only `MARIONETTE_FAULT` crash point: after the
 * workspace snapshot was stored, and after the runner went back), then
 * started again on the same home and gateway port: the suspend is finished (the session is
 * `suspended`, its runner back in the pool, unbound), resume places it again, cancel works.
 * The docker strategies are in docker.suspend.crash.e2e.test.ts.
 */
import { afterAll, afterEach, expect, it } from 'vitest';
import { type ServerHandle, type SessionView, startServer, type TaskView, until } from './harness.js';
import { Agents, createToken, idleRunners } from './pools.helpers.js';

const agents = new Agents();
let srv: ServerHandle | undefined;
let home: string | undefined;
afterEach(async () => {
  agents.cleanup();
});
afterAll(async () => {
  await srv?.destroy();
});

const session = async (id: string) =>
  (await srv!.api<SessionView & { suspend: unknown }>('GET', `/v1/sessions/${id}`)).body;

it.each([
  ['stored', 'after the workspace snapshot was stored'],
  ['released', 'after the runner went back to its pool'],
])('release_to_pool, killed %s (%s): finished, resume and cancel work', async (step) => {
  await srv?.destroy();
  srv = await startServer({ env: { MARIONETTE_FAULT: `suspend:release_to_pool:${step}` } });
  home = srv.home;
  const gatewayPort = srv.gatewayPort;
  const p = await srv.mctl(['pools', 'create', 'farm', '--mode', 'pool', '--provider', 'pool']);
  expect(p.code, p.stderr).toBe(0);
  const { token } = await createToken(srv, ['--pool', 'farm']);
  agents.start(srv, ['--token', token, '--name', 'a']);
  await idleRunners(srv, 'farm', 1);
  const created = await srv.api<SessionView>('POST', '/v1/sessions', { agent: 'shell', pool: 'farm', prompt: 'true' });
  expect(created.status).toBe(201);
  const sid = created.body.id;
  const first = await until(async () => {
    const s = await session(sid);
    return s.tasks[0]?.state === 'succeeded' && s.state === 'idle' ? s : null;
  }, 'the first task to finish');

  const died = new Promise<string | null>((resolve) => srv!.proc.once('exit', (_c, signal) => resolve(signal)));
  const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('still running after 60 s'), 60_000));
  const reply = srv.api('POST', `/v1/sessions/${sid}/suspend`, {}).catch((e: unknown) => e);
  expect(await Promise.race([died, timeout]), 'the server should have died at its crash point').toBe('SIGKILL');
  await reply;

  srv = await startServer({ home, gatewayPort });
  const after = await until(async () => {
    const s = await session(sid);
    return s.state !== 'suspending' ? s : null;
  }, 'the interrupted suspend to be settled');
  expect(after.state, after.stateReason ?? '').toBe('suspended');
  expect((after.suspend as { strategy: string; op?: unknown }).strategy).toBe('release_to_pool');
  expect((after.suspend as { op?: unknown }).op).toBeUndefined();
  expect(after.runnerId).toBeNull();
  const r = await until(async () => {
    const x = (await srv!.api<{ state: string; sessionId: string | null }>('GET', `/v1/runners/${first.runnerId}`))
      .body;
    return x.state === 'idle' ? x : null;
  }, 'the runner to be back, idle');
  expect(r.sessionId).toBeNull();
  // The snapshot is in the store (taken again when the crash came before it was recorded).
  const snaps = await srv.api<{ items: { reason: string }[] }>('GET', `/v1/workspaces?session=${sid}`);
  expect(snaps.body.items.length).toBeGreaterThanOrEqual(1);
  expect(snaps.body.items.every((x) => x.reason === 'suspend')).toBe(true);

  const res = await srv.mctl(['sessions', 'resume', sid]);
  expect(res.code, res.stderr).toBe(0);
  const t = await srv.mctl(['-o', 'json', 'tasks', 'create', '--session', sid, '--prompt', 'echo back', '--wait']);
  expect(t.code, t.stderr).toBe(0);
  const task = (await srv.api<TaskView>('GET', `/v1/tasks/${JSON.parse(t.stdout).id}`)).body;
  expect(task.state).toBe('succeeded');
  expect((await srv.api('POST', `/v1/sessions/${sid}/cancel`)).status).toBe(200);
  expect((await session(sid)).state).toBe('cancelled');
});
