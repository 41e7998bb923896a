/**
 * @module Daytona pools end to end, through the official SDK against the Daytona API stand-in
 * (test/daytona-standin/) whose sandboxes are Docker containers: a pool with `provider: daytona`
 * runs a shell session in a sandbox whose agent dialled the gateway, with a wall-clock cost event
 * once it ends and no sandbox left; `terminate_preserve_storage` stops the sandbox and resume
 * starts the same one with the workspace intact; `snapshot` writes a Daytona snapshot and resume
 * creates a new sandbox from it; a sandbox that fails to start is deleted and the session fails
 * with Daytona's own reason. The credential comes from the server's environment
 * (DAYTONA_API_KEY / DAYTONA_API_URL).
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { labelKeys } from '../src/providers/daytona/labels.js';
import { dockerDescribe } from '../src/providers/docker/docker.test-support.js';
import { type DaytonaTarget, daytonaTarget } from './daytona.support.js';
import {
  costEvents,
  createSession,
  getSession,
  runTask,
  type SessionObj,
  sessionIn,
  taskDone,
  taskLines,
} from './docker.support.js';
import { type ServerHandle, startServer, until } from './harness.js';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

dockerDescribe('daytona pools end to end (Daytona API stand-in)', () => {
  let target: DaytonaTarget;
  let srv: ServerHandle;

  /** The stand-in's sandboxes of this file, as `name state`. */
  const sandboxes = () =>
    [...target.standin.engine.sandboxes.values()]
      .filter((s) => s.labels[labelKeys(target.prefix).managed] === 'true')
      .map((s) => `${s.name} ${s.state}`);
  const expectNothingLeft = async () => {
    await until(async () => sandboxes().length === 0, 'every sandbox of this file to be deleted', 60_000);
  };

  beforeAll(async () => {
    target = await daytonaTarget();
    const gatewayPort = await freePort();
    srv = await startServer({
      gatewayPort,
      env: target.env,
      config: [
        'runners: { lease_timeout: 1m }',
        'providers:',
        `  daytona: ${JSON.stringify(target.config(gatewayPort))}`,
        'pools:',
        '  dt: {provider: daytona, mode: managed, max_runners: 4}',
        '  dtsnap: {provider: daytona, mode: managed, max_runners: 2, suspend_config: {strategy: snapshot, fallback: terminate}}',
        '',
      ].join('\n'),
    });
  }, 300_000);

  afterAll(async () => {
    await srv?.destroy();
    const left = target?.standin ? await target.standin.leftovers() : [];
    await target?.close();
    expect(left).toEqual([]);
  }, 120_000);

  async function idleSession(pool: string): Promise<SessionObj> {
    const s = await createSession(srv, { pool, prompt: 'true' });
    const done = await taskDone(srv, s.tasks![0]!.id, 120_000);
    expect(done.state, (await taskLines(srv, done.id)).join('\n')).toBe('succeeded');
    return sessionIn(srv, s.id, ['idle']);
  }

  async function end(id: string): Promise<void> {
    expect((await srv.api('POST', `/v1/sessions/${id}/cancel`)).status).toBe(200);
    await expectNothingLeft();
  }

  it('a pool with provider daytona runs a session in a sandbox whose agent dialled in; a wall-clock cost event and nothing left', async () => {
    const pool = await srv.api<{ health: string }>('GET', '/v1/pools/dt');
    expect(pool.body.health, JSON.stringify(pool.body)).not.toBe('unavailable');
    const created = await createSession(srv, {
      pool: 'dt',
      prompt: 'id -u; echo made > /workspace/made.txt; cat /workspace/made.txt; pwd',
    });
    const done = await taskDone(srv, created.tasks![0]!.id, 120_000);
    const lines = await taskLines(srv, done.id);
    expect(done.state, lines.join('\n')).toBe('succeeded');
    expect(lines).toEqual(['1000', 'made', '/workspace']);

    const s = await getSession(srv, created.id);
    const [sb] = [...target.standin.engine.sandboxes.values()].filter(
      (x) => x.labels[labelKeys(target.prefix).runner] === s.runnerId,
    );
    expect(sb, 'the runner sandbox').toBeDefined();
    expect(sb!.labels).toMatchObject({
      [labelKeys(target.prefix).session]: created.id,
      [labelKeys(target.prefix).pool]: s.poolId,
    });
    // The one-time token went on the agent's command line, not into the sandbox's environment.
    expect(Object.keys(sb!.env).filter((k) => k.startsWith('MARIONETTE_'))).toEqual([]);
    // `mctl sessions exec` goes through the runner protocol to the agent in the sandbox.
    const ex = await srv.mctl(['sessions', 'exec', created.id, '--', 'cat', 'made.txt']);
    expect(ex.code, ex.stderr).toBe(0);
    expect(ex.stdout.trim()).toBe('made');
    await end(created.id);
    await until(
      async () => costEvents(srv.home).some((c) => c.runner_id === s.runnerId),
      'the runner cost event',
      30_000,
    );
    const cost = costEvents(srv.home).find((c) => c.runner_id === s.runnerId)!;
    expect(cost.billing_model).toBe('wall-clock');
    expect(cost.seconds).toBeGreaterThan(0);
  }, 300_000);

  it('terminate_preserve_storage stops the sandbox and resume starts it again with the workspace intact', async () => {
    const s = await idleSession('dt');
    await runTask(srv, s.id, 'echo kept > /workspace/keep.txt; echo home > $HOME/h.txt');
    const r = await srv.api<SessionObj>('POST', `/v1/sessions/${s.id}/suspend`, {
      strategy: 'terminate_preserve_storage',
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.suspend?.strategy).toBe('terminate_preserve_storage');
    expect(sandboxes()).toEqual([`${sandboxes()[0]?.split(' ')[0]} stopped`]);

    const back = await srv.api('POST', `/v1/sessions/${s.id}/resume`);
    expect(back.status, JSON.stringify(back.body)).toBe(200);
    expect(await runTask(srv, s.id, 'cat /workspace/keep.txt $HOME/h.txt')).toEqual(['kept', 'home']);
    const after = await getSession(srv, s.id);
    expect(after.runnerId).not.toBe(s.runnerId);
    // The same sandbox, relabelled for the new runner.
    expect(sandboxes()).toHaveLength(1);
    await end(s.id);
  }, 300_000);

  it('snapshot writes a Daytona snapshot, deletes the sandbox, and resume creates one from it', async () => {
    const s = await idleSession('dtsnap');
    await runTask(srv, s.id, 'echo snap > /workspace/s.txt; echo tool > /tmp/outside.txt');
    const r = await srv.api<SessionObj>('POST', `/v1/sessions/${s.id}/suspend`, {});
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.suspend?.strategy).toBe('snapshot');
    expect(sandboxes()).toEqual([]);
    const snaps = [...target.standin.engine.snapshots.values()].filter((x) => x.committed).map((x) => x.name);
    expect(snaps).toHaveLength(1);

    const back = await srv.api('POST', `/v1/sessions/${s.id}/resume`);
    expect(back.status, JSON.stringify(back.body)).toBe(200);
    expect(await runTask(srv, s.id, 'cat /workspace/s.txt /tmp/outside.txt')).toEqual(['snap', 'tool']);
    await end(s.id);
    // The session ended: its snapshot is deleted with it.
    await until(
      async () => ![...target.standin.engine.snapshots.values()].some((x) => x.committed),
      'the suspend snapshot to be deleted',
      30_000,
    );
  }, 300_000);

  it('a sandbox that fails to start is deleted, and the session fails with Daytona’s reason', async () => {
    target.standin.fail('start-container', { status: 500, message: 'no runner available in region us (stand-in)' });
    const created = await createSession(srv, { pool: 'dt', prompt: 'true' });
    const failed = await sessionIn(srv, created.id, ['failed'], 120_000);
    expect(failed.stateReason).toContain('provisioning on pool dt failed');
    expect(failed.stateReason).toContain('no runner available in region us (stand-in)');
    await expectNothingLeft();
    expect(await target.standin.leftovers()).toEqual([]);
  }, 300_000);
});
