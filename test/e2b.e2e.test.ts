/**
 * @module E2B pools end to end, with the official SDK talking to the E2B stand-in
 * (test/e2b-standin/) whose sandboxes are Docker containers: a pool made with `mctl pools create
 * --provider e2b` runs a shell session in a sandbox whose agent dialled the gateway, with a
 * wall-clock cost event when it ends; pause then resume keeps the workspace (and the sandbox), and
 * the cost event leaves the paused time out;
 * which `mctl sessions exec` reads;
 * a template without the agent fails the session with the reason in `mctl sessions explain` and
 * leaves no sandbox; a server killed while a sandbox was being created reaps it once restarted;
 * and nothing is left when the sessions end.
 */
import { createServer } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { docker, dockerDescribe } from '../src/providers/docker/docker.test-support.js';
import {
  costEvents,
  createSession,
  runTask,
  type SessionObj,
  sessionIn,
  taskDone,
  taskLines,
} from './docker.support.js';
import { type E2bTarget, e2bPrefix, e2bTarget } from './e2b.support.js';
import { type ServerHandle, startServer, until } from './harness.js';

/** A port free right now on loopback (the gateway address must be in the config before the server starts). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** The cost event of a runner, with its start and end, or null. */
function runnerCost(home: string, runnerId: string) {
  const db = new Database(join(home, 'marionette.db'), { readonly: true });
  try {
    return (
      (db.prepare('select seconds, started_at, ended_at from cost_events where runner_id = ?').get(runnerId) as
        | { seconds: number; started_at: number; ended_at: number }
        | undefined) ?? null
    );
  } finally {
    db.close();
  }
}

dockerDescribe('e2b pools end to end (E2B stand-in)', () => {
  const prefix = e2bPrefix();
  let target: E2bTarget;
  let srv: ServerHandle;

  const sandboxes = () => [...(target.standin?.sandboxes.all.values() ?? [])];
  const expectNothingLeft = async () => {
    await until(
      async () => sandboxes().length === 0 && (await target.standin!.leftovers()).length === 0,
      'every sandbox and container to be gone',
      60_000,
    );
  };

  beforeAll(async () => {
    target = await e2bTarget(prefix);
    const gatewayPort = await freePort();
    srv = await startServer({
      gatewayPort,
      env: { E2B_API_KEY: target.apiKey },
      config: `runners: { lease_timeout: 1m }\nproviders:\n  e2b: ${JSON.stringify(target.config(gatewayPort))}\n`,
    });
  }, 300_000);

  afterAll(async () => {
    await srv?.destroy();
    const rest = target ? await target.standin!.leftovers().catch(() => []) : [];
    await target?.close();
    expect(rest).toEqual([]);
  }, 120_000);

  it('`mctl pools create --provider e2b` runs a session in a sandbox, with a wall-clock cost event', async () => {
    const made = await srv.mctl(['pools', 'create', 'e2b', '--provider', 'e2b', '--mode', 'managed']);
    expect(made.code, made.stderr).toBe(0);
    const pool = await srv.api<{ health: string; unavailableReason: string | null }>('GET', '/v1/pools/e2b');
    expect(pool.body.health, JSON.stringify(pool.body)).not.toBe('unavailable');

    const created = await createSession(srv, {
      pool: 'e2b',
      prompt: 'echo made > /workspace/made.txt; cat /workspace/made.txt; echo "runner=$MARIONETTE_RUNNER_ID"',
    });
    const done = await taskDone(srv, created.tasks![0]!.id, 120_000);
    const lines = await taskLines(srv, done.id);
    expect(done.state, lines.join('\n')).toBe('succeeded');
    expect(lines).toContain('made');
    // The session ran in a sandbox of this stand-in, labelled with its owners.
    const s = await sessionIn(srv, created.id, ['idle']);
    const [box] = sandboxes().filter((b) => b.metadata[`${prefix}.runner`] === s.runnerId);
    expect(box?.metadata[`${prefix}.session`]).toBe(created.id);
    expect(lines).toContain(`runner=${s.runnerId}`);

    expect((await srv.api('POST', `/v1/sessions/${created.id}/cancel`)).status).toBe(200);
    await expectNothingLeft();
    await until(
      async () => costEvents(srv.home).some((c) => c.runner_id === s.runnerId),
      'the runner cost event',
      30_000,
    );
    const cost = costEvents(srv.home).find((c) => c.runner_id === s.runnerId);
    expect(cost?.billing_model).toBe('wall-clock');
    expect(cost?.seconds).toBeGreaterThan(0);
  }, 300_000);

  it('pause then resume keeps the sandbox and its workspace (E2B pause keeps memory)', async () => {
    const r = await srv.api('POST', '/v1/pools', { name: 'e2b-pause', provider: 'e2b', mode: 'managed' });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const created = await createSession(srv, { pool: 'e2b-pause', prompt: 'echo kept > /workspace/keep.txt' });
    expect((await taskDone(srv, created.tasks![0]!.id, 120_000)).state).toBe('succeeded');
    const before = await sessionIn(srv, created.id, ['idle']);
    const box = sandboxes().find((b) => b.metadata[`${prefix}.runner`] === before.runnerId)!;

    const paused = await srv.api<SessionObj>('POST', `/v1/sessions/${created.id}/suspend`, {});
    expect(paused.status, JSON.stringify(paused.body)).toBe(200);
    expect(paused.body.suspend?.strategy).toBe('pause');
    expect(box.state).toBe('paused');
    expect((await docker.getContainer(box.container).inspect()).State.Paused).toBe(true);
    // Paused for at least 4 s, which E2B does not bill (idleCostModel zero).
    await new Promise((r) => setTimeout(r, 4000));

    const back = await srv.mctl(['sessions', 'resume', created.id]);
    expect(back.code, back.stderr).toBe(0);
    expect(await runTask(srv, created.id, 'cat /workspace/keep.txt')).toEqual(['kept']);
    // `mctl sessions exec` (through the runner in the sandbox) sees the same workspace.
    const exec = await srv.mctl(['sessions', 'exec', created.id, '--', 'cat', '/workspace/keep.txt']);
    expect(exec.code, exec.stderr).toBe(0);
    expect(exec.stdout.trim()).toBe('kept');
    const after = await sessionIn(srv, created.id, ['idle']);
    // The same sandbox and runner: nothing was restarted.
    expect(after.runnerId).toBe(before.runnerId);
    expect(box.state).toBe('running');
    expect((await srv.api('POST', `/v1/sessions/${created.id}/cancel`)).status).toBe(200);
    await expectNothingLeft();
    // The cost event bills the time the sandbox ran, not the pause.
    const cost = await until(async () => runnerCost(srv.home, after.runnerId!), 'the runner cost event', 30_000);
    const wall = (cost.ended_at - cost.started_at) / 1000;
    expect(wall - cost.seconds, JSON.stringify(cost)).toBeGreaterThanOrEqual(3.99);
    expect(cost.seconds).toBeGreaterThan(0);
  }, 300_000);

  it('snapshot keeps the files in and out of the workspace on a new sandbox, and the snapshot goes with the session', async () => {
    const r = await srv.api('POST', '/v1/pools', {
      name: 'e2b-snap',
      provider: 'e2b',
      mode: 'managed',
      suspendConfig: { strategy: 'snapshot', fallback: 'terminate' },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const created = await createSession(srv, {
      pool: 'e2b-snap',
      prompt: 'echo in > /workspace/in.txt; echo out > /home/agent/out.txt',
    });
    expect((await taskDone(srv, created.tasks![0]!.id, 120_000)).state).toBe('succeeded');
    const before = await sessionIn(srv, created.id, ['idle']);
    const suspended = await srv.api<SessionObj>('POST', `/v1/sessions/${created.id}/suspend`, {});
    expect(suspended.status, JSON.stringify(suspended.body)).toBe(200);
    expect(suspended.body.suspend?.strategy).toBe('snapshot');
    // The sandbox went; only its snapshot is kept.
    expect(sandboxes().filter((b) => b.metadata[`${prefix}.session`] === created.id)).toEqual([]);
    expect(target.standin.sandboxes.snapshots.size).toBe(1);

    const back = await srv.mctl(['sessions', 'resume', created.id]);
    expect(back.code, back.stderr).toBe(0);
    expect(await runTask(srv, created.id, 'cat /workspace/in.txt /home/agent/out.txt')).toEqual(['in', 'out']);
    const after = await sessionIn(srv, created.id, ['idle']);
    expect(after.runnerId).not.toBe(before.runnerId);
    expect((await srv.api('POST', `/v1/sessions/${created.id}/cancel`)).status).toBe(200);
    await expectNothingLeft();
    await until(async () => target.standin.sandboxes.snapshots.size === 0, 'the snapshot to be deleted', 30_000);
  }, 300_000);

  it('a template without the agent fails the session naming it, shown by `mctl sessions explain`, and leaves no sandbox', async () => {
    const r = await srv.api('POST', '/v1/pools', {
      name: 'e2b-noagent',
      provider: 'e2b',
      mode: 'managed',
      sandboxConfig: { agentCommand: '/opt/nowhere/marionette-agent' },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const created = await createSession(srv, { pool: 'e2b-noagent', prompt: 'true' });
    const failed = await sessionIn(srv, created.id, ['failed'], 120_000);
    expect(failed.stateReason).toContain('/opt/nowhere/marionette-agent');
    expect(failed.stateReason).toContain('marionette-agent');
    const explain = await srv.mctl(['sessions', 'explain', created.id]);
    expect(explain.code, explain.stderr).toBe(0);
    expect(explain.stdout).toContain('/opt/nowhere/marionette-agent');
    // The sandbox was created, then killed before the error was reported.
    expect(target.standin!.api.seen.filter((x) => x === 'POST /v2/sandboxes').length).toBeGreaterThan(0);
    await expectNothingLeft();
  }, 300_000);

  it('a server whose E2B key is refused shows E2B’s reason on the pool and the refused session, never the key', async () => {
    const gatewayPort = await freePort();
    const wrongKey = 'e2b_wrong_key_for_this_test';
    const other = await startServer({
      gatewayPort,
      env: { E2B_API_KEY: wrongKey },
      config: `providers:\n  e2b: ${JSON.stringify(target.config(gatewayPort))}\npools:\n  bad: {provider: e2b, mode: managed}\n`,
    });
    try {
      // The provider's health probe lists sandboxes with the server's key: E2B refuses it.
      const pool = await until(async () => {
        const r = await other.api<{ health: string; unavailableReason: string | null }>('GET', '/v1/pools/bad');
        return r.body.unavailableReason?.includes('E2B refused the API key') ? r.body : undefined;
      }, 'the pool to show E2B refusing the key');
      expect(pool.health).toBe('unavailable');
      expect(pool.unavailableReason).toContain('Invalid API key');
      expect(pool.unavailableReason).not.toContain(wrongKey);
      const s = await other.api<{ detail: string }>('POST', '/v1/sessions', {
        agent: 'shell',
        pool: 'bad',
        prompt: 'true',
        waitForCapacity: false,
      });
      expect(s.status, JSON.stringify(s.body)).toBe(422);
      expect(s.body.detail).toContain('E2B refused the API key');
      expect(JSON.stringify(s.body)).not.toContain(wrongKey);
      const listed = await other.mctl(['pools', 'list']);
      expect(listed.stdout + listed.stderr).not.toContain(wrongKey);
      expect(sandboxes()).toEqual([]);
    } finally {
      await other.destroy();
    }
  }, 300_000);

  it('a server killed while E2B was starting a sandbox reaps it once restarted (by its metadata)', async () => {
    const r = await srv.api('POST', '/v1/pools', { name: 'e2b-crash', provider: 'e2b', mode: 'managed' });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    target.standin.api.holdNextCreateMs = 60_000;
    const created = await createSession(srv, { pool: 'e2b-crash', prompt: 'echo after-restart' });
    const orphan = await until(
      async () => sandboxes().find((b) => b.metadata[`${prefix}.session`] === created.id),
      'the sandbox to exist while its create is held',
    );
    await srv.stop(true);
    srv = await srv.restart();
    // The runner that never got its handle is terminated at start, and its sandbox reaped by metadata.
    await until(
      async () => !target.standin.sandboxes.all.has(orphan.sandboxId),
      'the orphaned sandbox to be reaped',
      120_000,
    );
    // The session is placed again and runs on a new sandbox.
    expect((await taskDone(srv, created.tasks![0]!.id, 120_000)).state).toBe('succeeded');
    expect((await srv.api('POST', `/v1/sessions/${created.id}/cancel`)).status).toBe(200);
    await expectNothingLeft();
  }, 300_000);
});
