/**
 * @module Vercel pools end to end, with the official `@vercel/sandbox` SDK talking to the Vercel
 * Sandbox stand-in (test/vercel-standin/) whose sessions are Docker containers: a pool with
 * `provider: vercel` runs a shell session in a sandbox whose agent dialled the gateway, with an
 * `active-cpu` cost event once it ends and no sandbox left; the native `snapshot` suspend takes a
 * Vercel snapshot and resume starts a new sandbox from it with the workspace (and the files outside
 * it) intact, the snapshot going with the session; `terminate_preserve_storage` keeps the
 * workspace in the server's store and deletes the sandbox; an image without the agent fails the
 * session with the reason in `mctl sessions explain` and leaves nothing; a server killed while a
 * sandbox was being created reaps it once restarted. The credential comes from the server's
 * environment (VERCEL_TOKEN, VERCEL_TEAM_ID, VERCEL_PROJECT_ID).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { dockerDescribe } from '../src/providers/docker/docker.test-support.js';
import { tagKeys } from '../src/providers/vercel/names.js';
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
import { json, type ServerHandle, startServer, until } from './harness.js';
import { freePort, type VercelTarget, vercelTarget } from './vercel.support.js';

dockerDescribe('vercel pools end to end (Vercel Sandbox stand-in)', () => {
  let target: VercelTarget;
  let srv: ServerHandle;

  const snapshotsLive = () => [...target.standin.sandboxes.snapshots.values()].filter((s) => s.status === 'created');
  const expectNothingLeft = async () => {
    await until(async () => target.sandboxes().length === 0, 'every sandbox of this file to be deleted', 60_000);
  };

  beforeAll(async () => {
    target = await vercelTarget();
    const gatewayPort = await freePort();
    srv = await startServer({
      gatewayPort,
      env: target.env,
      config: [
        'runners: { lease_timeout: 1m }',
        'providers:',
        `  vercel: ${JSON.stringify(target.config(gatewayPort))}`,
        'pools:',
        '  vc: {provider: vercel, mode: managed, max_runners: 4}',
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

  async function idleSession(pool: string, prompt = 'true'): Promise<SessionObj> {
    const s = await createSession(srv, { pool, prompt });
    const done = await taskDone(srv, s.tasks![0]!.id, 120_000);
    expect(done.state, (await taskLines(srv, done.id)).join('\n')).toBe('succeeded');
    return sessionIn(srv, s.id, ['idle']);
  }

  async function end(id: string): Promise<void> {
    expect((await srv.api('POST', `/v1/sessions/${id}/cancel`)).status).toBe(200);
    await expectNothingLeft();
  }

  it('a pool with provider vercel runs a session in a sandbox whose agent dialled in; an active-cpu cost event and nothing left', async () => {
    const pool = await srv.api<{ health: string }>('GET', '/v1/pools/vc');
    expect(pool.body.health, JSON.stringify(pool.body)).not.toBe('unavailable');
    const created = await createSession(srv, {
      pool: 'vc',
      prompt: 'echo made > /workspace/made.txt; cat /workspace/made.txt; pwd; echo "runner=$MARIONETTE_RUNNER_ID"',
    });
    const done = await taskDone(srv, created.tasks![0]!.id, 120_000);
    const lines = await taskLines(srv, done.id);
    expect(done.state, lines.join('\n')).toBe('succeeded');
    const s = await getSession(srv, created.id);
    expect(lines).toEqual(['made', '/workspace', `runner=${s.runnerId}`]);
    // The sandbox is named after its runner and tagged with its owners.
    const k = tagKeys(target.prefix);
    const sb = target.standin.sandboxes.sandboxes.get(`${target.prefix}-${s.runnerId!.replaceAll('_', '-')}`);
    expect(sb?.tags).toMatchObject({ [k.session]: created.id, [k.runner]: s.runnerId, [k.pool]: s.poolId });
    // The one-time token went to the agent's command, not into the sandbox's environment.
    expect(Object.keys(sb!.env).filter((x) => x.startsWith('MARIONETTE_'))).toEqual([]);
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
    expect(cost.billing_model).toBe('active-cpu');
    expect(cost.seconds).toBeGreaterThan(0);
    // With the resources Vercel reported for the sandbox (what it bills besides active CPU).
    const listed = await srv.api<{ items: Array<{ runnerId: string; resources?: unknown }> }>(
      'GET',
      `/v1/costs?session=${created.id}`,
    );
    expect(listed.body.items.find((c) => c.runnerId === s.runnerId)?.resources).toEqual({ vcpus: 2, memoryMb: 4096 });
  }, 300_000);

  it('the native snapshot suspend keeps the files in and out of the workspace on a new sandbox; the snapshot goes with the session', async () => {
    const s = await idleSession('vc', 'echo in > /workspace/in.txt; echo out > /home/agent/out.txt');
    const r = await srv.api<SessionObj>('POST', `/v1/sessions/${s.id}/suspend`, {});
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.suspend?.strategy).toBe('snapshot');
    // The sandbox stopped (the snapshot's holder); one snapshot is kept.
    expect(target.sandboxes()).toEqual([expect.stringMatching(/ stopped$/)]);
    expect(snapshotsLive()).toHaveLength(1);

    const back = await srv.mctl(['sessions', 'resume', s.id]);
    expect(back.code, back.stderr).toBe(0);
    expect(await runTask(srv, s.id, 'cat /workspace/in.txt /home/agent/out.txt')).toEqual(['in', 'out']);
    const after = await getSession(srv, s.id);
    expect(after.runnerId).not.toBe(s.runnerId);
    // A new sandbox from the snapshot; the holder went.
    expect(target.sandboxes()).toEqual([expect.stringMatching(/ running$/)]);

    // A second suspend replaces the first snapshot.
    expect((await srv.api('POST', `/v1/sessions/${s.id}/suspend`, {})).status).toBe(200);
    expect(snapshotsLive()).toHaveLength(1);
    expect((await srv.api('POST', `/v1/sessions/${s.id}/resume`)).status).toBe(200);
    expect(await runTask(srv, s.id, 'cat /workspace/in.txt')).toEqual(['in']);
    await end(s.id);
    await until(async () => snapshotsLive().length === 0, 'the suspend snapshot to be deleted', 30_000);
  }, 300_000);

  it('terminate_preserve_storage keeps the workspace in the store, deletes the sandbox, and resume brings the files back', async () => {
    const s = await idleSession('vc', 'mkdir -p /workspace/src && echo kept > /workspace/src/keep.txt');
    const sus = await srv.mctl(['-o', 'json', 'sessions', 'suspend', s.id, '--strategy', 'terminate_preserve_storage']);
    expect(sus.code, sus.stderr).toBe(0);
    const suspended = json<SessionObj>(sus);
    expect(suspended.state).toBe('suspended');
    expect(suspended.suspend?.strategy).toBe('terminate_preserve_storage');
    // No sandbox and no Vercel snapshot: the workspace is in the server's store.
    expect(target.sandboxes()).toEqual([]);
    expect(snapshotsLive()).toEqual([]);
    const snaps = json<{ reason: string }[]>(await srv.mctl(['-o', 'json', 'workspaces', 'list', '--session', s.id]));
    expect(snaps.map((x) => x.reason)).toEqual(['suspend']);

    const back = await srv.mctl(['sessions', 'resume', s.id]);
    expect(back.code, back.stderr).toBe(0);
    expect(await runTask(srv, s.id, 'cat /workspace/src/keep.txt')).toEqual(['kept']);
    expect((await getSession(srv, s.id)).runnerId).not.toBe(s.runnerId);
    await end(s.id);
  }, 300_000);

  it('an image without the agent fails the session naming it, shown by `mctl sessions explain`, and leaves no sandbox', async () => {
    const r = await srv.api('POST', '/v1/pools', {
      name: 'vc-noagent',
      provider: 'vercel',
      mode: 'managed',
      sandboxConfig: { agentCommand: '/opt/nowhere/marionette-agent' },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const creates = () => target.standin.api.seen.filter((x) => x === 'POST /v3/sandboxes').length;
    const before = creates();
    const created = await createSession(srv, { pool: 'vc-noagent', prompt: 'true' });
    const failed = await sessionIn(srv, created.id, ['failed'], 120_000);
    expect(failed.stateReason).toContain('/opt/nowhere/marionette-agent');
    const explain = await srv.mctl(['sessions', 'explain', created.id]);
    expect(explain.code, explain.stderr).toBe(0);
    expect(explain.stdout).toContain('/opt/nowhere/marionette-agent');
    // The sandbox was created, then deleted before the error was reported.
    expect(creates()).toBeGreaterThan(before);
    await expectNothingLeft();
  }, 300_000);

  it('a server killed while Vercel was creating a sandbox reaps it once restarted (by its name prefix and tags)', async () => {
    target.standin.api.holdNextCreateMs = 60_000;
    const created = await createSession(srv, { pool: 'vc', prompt: 'echo after-restart' });
    const k = tagKeys(target.prefix);
    const orphan = await until(
      async () => [...target.standin.sandboxes.sandboxes.values()].find((b) => b.tags[k.session] === created.id),
      'the sandbox to exist while its create is held',
    );
    await srv.stop(true);
    srv = await srv.restart();
    await until(
      async () => !target.standin.sandboxes.sandboxes.has(orphan.name),
      'the orphaned sandbox to be reaped',
      120_000,
    );
    expect((await taskDone(srv, created.tasks![0]!.id, 120_000)).state).toBe('succeeded');
    await end(created.id);
  }, 300_000);

  it('a server with no Vercel credential shows credential_missing in `mctl sessions explain`, naming the variable and the command', async () => {
    const gatewayPort = await freePort();
    const other = await startServer({
      gatewayPort,
      env: { VERCEL_TOKEN: '', VERCEL_TEAM_ID: '', VERCEL_PROJECT_ID: '' },
      config: `providers:\n  vercel: ${JSON.stringify(target.config(gatewayPort))}\npools:\n  nocred: {provider: vercel, mode: managed}\n`,
    });
    try {
      const creates = () => target.standin.api.seen.filter((x) => x === 'POST /v3/sandboxes').length;
      const before = creates();
      const created = await other.api<{ id: string }>('POST', '/v1/sessions', {
        agent: 'shell',
        pool: 'nocred',
        prompt: 'true',
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const explain = await until(async () => {
        const r = await other.mctl(['sessions', 'explain', created.body.id]);
        return r.stdout.includes('credential_missing') ? r : undefined;
      }, 'explain to show credential_missing');
      expect(explain.stdout).toMatch(/nocred\s+vercel\s+\d+\s+credential_missing/);
      expect(explain.stdout).toContain('VERCEL_TOKEN');
      expect(explain.stdout).toContain('mctl credentials set vercel');
      // Nothing was provisioned: the stand-in saw no create (the other server keeps listing its own).
      expect(creates()).toBe(before);
    } finally {
      await other.destroy();
    }
  }, 180_000);
});
