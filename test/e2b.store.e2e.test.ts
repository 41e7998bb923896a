/**
 * @module `terminate_preserve_storage` on E2B, through the workspace store, end to end with the
 * official SDK talking to the E2B stand-in (test/e2b-standin/, Docker-backed): a file written in
 * the session, `mctl sessions suspend --strategy terminate_preserve_storage` snapshots the
 * workspace into the server's store and kills the sandbox (none is left, not even paused), and
 * `mctl sessions resume` starts a new sandbox with a new runner whose agent restores the workspace
 * from the store before the next task. A session first suspended with E2B's own `snapshot` and
 * then with `terminate_preserve_storage` comes back with its latest files, and its E2B snapshot is
 * deleted at that suspend (the store holds the workspace from then on). A workspace the runner
 * cannot snapshot fails the suspend and keeps the sandbox: the store is E2B's only copy.
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { dockerDescribe } from '../src/providers/docker/docker.test-support.js';
import { createSession, runTask, type SessionObj, sessionIn, taskDone, taskLines } from './docker.support.js';
import { type E2bTarget, e2bPrefix, e2bTarget } from './e2b.support.js';
import { json, type ServerHandle, startServer, until } from './harness.js';

/** A port free right now on loopback (the gateway address must be in the config before the server starts). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

dockerDescribe('e2b terminate_preserve_storage through the workspace store (E2B stand-in)', () => {
  const prefix = e2bPrefix();
  let target: E2bTarget;
  let srv: ServerHandle;

  const sandboxesOf = (sessionId: string) =>
    [...(target.standin?.sandboxes.all.values() ?? [])].filter((b) => b.metadata[`${prefix}.session`] === sessionId);

  beforeAll(async () => {
    target = await e2bTarget(prefix);
    const gatewayPort = await freePort();
    srv = await startServer({
      gatewayPort,
      env: { E2B_API_KEY: target.apiKey },
      config: `runners: { lease_timeout: 1m }\nproviders:\n  e2b: ${JSON.stringify(target.config(gatewayPort))}\n`,
    });
    const r = await srv.api('POST', '/v1/pools', { name: 'e2b', provider: 'e2b', mode: 'managed' });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
  }, 300_000);

  afterAll(async () => {
    await srv?.destroy();
    const rest = target ? await target.standin!.leftovers().catch(() => []) : [];
    await target?.close();
    expect(rest).toEqual([]);
  }, 120_000);

  it('a file written in the session is back on a new sandbox after terminate_preserve_storage and resume', async () => {
    const created = await createSession(srv, {
      pool: 'e2b',
      prompt: 'mkdir -p /workspace/src && echo kept > /workspace/src/keep.txt',
    });
    expect((await taskDone(srv, created.tasks![0]!.id, 120_000)).state).toBe('succeeded');
    const before = await sessionIn(srv, created.id, ['idle']);
    const [box] = sandboxesOf(created.id);
    expect(box).toBeDefined();

    const sus = await srv.mctl([
      '-o',
      'json',
      'sessions',
      'suspend',
      created.id,
      '--strategy',
      'terminate_preserve_storage',
    ]);
    expect(sus.code, sus.stderr).toBe(0);
    const suspended = json<SessionObj>(sus);
    expect(suspended.state).toBe('suspended');
    expect(suspended.suspend?.strategy).toBe('terminate_preserve_storage');
    // The sandbox is gone (killed, not paused); the workspace is in the store.
    expect(sandboxesOf(created.id)).toEqual([]);
    expect(target.standin.sandboxes.snapshots.size).toBe(0);
    const snaps = json<{ reason: string }[]>(
      await srv.mctl(['-o', 'json', 'workspaces', 'list', '--session', created.id]),
    );
    expect(snaps.map((x) => x.reason)).toEqual(['suspend']);

    const back = await srv.mctl(['sessions', 'resume', created.id]);
    expect(back.code, back.stderr).toBe(0);
    expect(await runTask(srv, created.id, 'cat /workspace/src/keep.txt')).toEqual(['kept']);
    const after = await sessionIn(srv, created.id, ['idle']);
    expect(after.runnerId).not.toBe(before.runnerId);
    const boxes = sandboxesOf(created.id);
    expect(boxes.length).toBe(1);
    expect(boxes[0]!.sandboxId).not.toBe(box!.sandboxId);

    expect((await srv.api('POST', `/v1/sessions/${created.id}/cancel`)).status).toBe(200);
    await until(async () => sandboxesOf(created.id).length === 0, 'the sandbox to be killed', 60_000);
  }, 300_000);

  it('after an E2B snapshot, terminate_preserve_storage deletes that snapshot and resumes with the latest files', async () => {
    const created = await createSession(srv, { pool: 'e2b', prompt: 'echo one > /workspace/v.txt' });
    expect((await taskDone(srv, created.tasks![0]!.id, 120_000)).state).toBe('succeeded');
    await sessionIn(srv, created.id, ['idle']);
    const snap = await srv.api<SessionObj>('POST', `/v1/sessions/${created.id}/suspend`, { strategy: 'snapshot' });
    expect(snap.status, JSON.stringify(snap.body)).toBe(200);
    expect(snap.body.suspend?.strategy).toBe('snapshot');
    expect(target.standin.sandboxes.snapshots.size).toBe(1);
    expect((await srv.mctl(['sessions', 'resume', created.id])).code).toBe(0);
    // The sandbox restored from the E2B snapshot: a newer file than the snapshot's.
    expect(await runTask(srv, created.id, 'cat /workspace/v.txt; echo two > /workspace/v.txt')).toEqual(['one']);
    await sessionIn(srv, created.id, ['idle']);

    const sus = await srv.api<SessionObj>('POST', `/v1/sessions/${created.id}/suspend`, {
      strategy: 'terminate_preserve_storage',
    });
    expect(sus.status, JSON.stringify(sus.body)).toBe(200);
    expect(sus.body.suspend?.strategy).toBe('terminate_preserve_storage');
    expect(sandboxesOf(created.id)).toEqual([]);
    // The store holds the workspace now; the older E2B snapshot is not kept beside it.
    expect(target.standin.sandboxes.snapshots.size).toBe(0);

    const back = await srv.mctl(['sessions', 'resume', created.id]);
    expect(back.code, back.stderr).toBe(0);
    expect(await runTask(srv, created.id, 'cat /workspace/v.txt')).toEqual(['two']);
    expect((await srv.api('POST', `/v1/sessions/${created.id}/cancel`)).status).toBe(200);
    await until(async () => sandboxesOf(created.id).length === 0, 'the sandbox to be killed', 60_000);
  }, 300_000);

  it('a workspace the store cannot snapshot fails the suspend and keeps the sandbox (the store is its only copy)', async () => {
    // A file the agent (not root) cannot read: the runner's snapshot of the workspace fails.
    const created = await createSession(srv, {
      pool: 'e2b',
      prompt: 'echo mine > /workspace/mine.txt; echo x > /workspace/locked; chmod 000 /workspace/locked; id -u',
    });
    const done = await taskDone(srv, created.tasks![0]!.id, 120_000);
    expect(done.state).toBe('succeeded');
    expect(await taskLines(srv, done.id)).not.toContain('0');
    const before = await sessionIn(srv, created.id, ['idle']);
    const [box] = sandboxesOf(created.id);

    const sus = await srv.mctl(['sessions', 'suspend', created.id, '--strategy', 'terminate_preserve_storage']);
    expect(sus.code).not.toBe(0);
    expect(sus.stderr).toMatch(/snapshot/);
    // Nothing was lost: the same sandbox and runner carry on with the workspace.
    const after = await sessionIn(srv, created.id, ['idle']);
    expect(after.runnerId).toBe(before.runnerId);
    expect(sandboxesOf(created.id).map((b) => b.sandboxId)).toEqual([box!.sandboxId]);
    expect(await runTask(srv, created.id, 'cat /workspace/mine.txt')).toEqual(['mine']);
    expect((await srv.api('POST', `/v1/sessions/${created.id}/cancel`)).status).toBe(200);
    await until(async () => sandboxesOf(created.id).length === 0, 'the sandbox to be killed', 60_000);
  }, 300_000);
});
