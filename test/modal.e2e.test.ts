/**
 * @module Modal pools end to end, through Modal's JS SDK (`modal` 0.x) talking gRPC to the Modal
 * stand-in (test/modal-standin/) whose sandboxes are Docker containers: with no credential a modal
 * pool's verdict is `credential_missing` (explain names the variables and the command) and nothing
 * is provisioned; once the org's credential is stored a pool with `provider: modal` runs a shell
 * session in a sandbox whose agent dialled the gateway, with a wall-clock cost event and no
 * sandbox left; `snapshot` (Modal's filesystem snapshot) and `terminate_preserve_storage` (through
 * the workspace store) suspend and resume with the workspace intact; a pool asking for a GPU has it
 * in Modal's create request; a provision that fails after
 * the sandbox exists leaves nothing behind and the session fails with Modal's message.
 */
import { createServer } from 'node:net';
import { Status } from 'nice-grpc';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { dockerDescribe } from '../src/providers/docker/docker.test-support.js';
import { tagKeys } from '../src/providers/modal/tags.js';
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
import { type ModalTarget, modalTarget } from './modal.support.js';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

interface Verdict {
  poolName: string;
  reason: string;
  detail: string;
}

dockerDescribe('modal pools end to end (Modal API stand-in)', () => {
  let target: ModalTarget;
  let srv: ServerHandle;
  /** What the server process wrote, grepped for the token secret at the end. */
  const output: string[] = [];

  /** The stand-in's running sandboxes of this file's sessions. */
  const running = async (sessionId?: string) =>
    (await target.standin.running()).filter(
      (s) =>
        s.tags[tagKeys(target.prefix).managed] === 'true' &&
        (sessionId === undefined || s.tags[tagKeys(target.prefix).session] === sessionId),
    );
  const snapshotImages = () => [...target.standin.engine.images.values()].filter((i) => i.committed);
  const expectNothingLeft = async () => {
    await until(async () => (await running()).length === 0, 'every sandbox of this file to end', 60_000);
  };

  beforeAll(async () => {
    target = await modalTarget();
    const gatewayPort = await freePort();
    // No MODAL_TOKEN_* in the server's environment: the org's credential is stored by the first test.
    srv = await startServer({
      gatewayPort,
      config: [
        'runners: { lease_timeout: 1m }',
        'providers:',
        `  modal: ${JSON.stringify(target.config(gatewayPort))}`,
        'pools:',
        '  md: {provider: modal, mode: managed, max_runners: 4}',
        '  mdsnap: {provider: modal, mode: managed, max_runners: 2, suspend_config: {strategy: snapshot, fallback: terminate}}',
        '  mdgpu: {provider: modal, mode: managed, max_runners: 1, sandbox_config: {gpu: "A10G:1"}}',
        '',
      ].join('\n'),
    });
    srv.proc.stdout?.on('data', (c: Buffer) => output.push(c.toString()));
    srv.proc.stderr?.on('data', (c: Buffer) => output.push(c.toString()));
  }, 300_000);

  afterAll(async () => {
    await srv?.destroy();
    const left = target ? await target.standin.leftovers() : [];
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
    await until(async () => (await running(id)).length === 0, 'the session sandbox to end', 60_000);
  }

  it('without a credential the pool is credential_missing in explain and nothing is provisioned; storing one fixes it', async () => {
    const dry = await srv.api<{ decision: { verdicts: Verdict[] } }>('POST', '/v1/sessions', {
      agent: 'shell',
      prompt: 'true',
      pool: 'md',
      dryRun: true,
    });
    expect(dry.status, JSON.stringify(dry.body)).toBe(200);
    const v = dry.body.decision.verdicts.find((x) => x.poolName === 'md')!;
    expect(v.reason).toBe('credential_missing');
    expect(v.detail).toContain('MODAL_TOKEN_ID');
    const created = await srv.api<{ id: string }>('POST', '/v1/sessions', {
      agent: 'shell',
      prompt: 'true',
      pool: 'md',
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    await until(
      async () => {
        const r = await srv.api<{ decision: { verdicts: Verdict[] } | null }>(
          'GET',
          `/v1/sessions/${created.body.id}/explain`,
        );
        return r.body.decision?.verdicts.some((x) => x.reason === 'credential_missing');
      },
      'the session to be evaluated',
      60_000,
    );
    const explain = await srv.mctl(['sessions', 'explain', created.body.id]);
    expect(explain.code, explain.stderr).toBe(0);
    expect(explain.stdout).toMatch(/md\s+modal\s+0\s+credential_missing/);
    expect(explain.stdout).toContain('MODAL_TOKEN_ID');
    expect(explain.stdout).toContain('mctl credentials set modal');
    expect(target.standin.calls.filter((c) => c.startsWith('sandboxCreate'))).toEqual([]);
    expect((await srv.api('POST', `/v1/sessions/${created.body.id}/cancel`, {})).status).toBe(200);

    const put = await srv.api('PUT', '/v1/provider-credentials/modal', {
      fields: { tokenId: target.env.MODAL_TOKEN_ID, tokenSecret: target.env.MODAL_TOKEN_SECRET },
    });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect(JSON.stringify(put.body)).not.toContain(target.env.MODAL_TOKEN_SECRET);
    const after = await srv.api<{ decision: { verdicts: Verdict[] } }>('POST', '/v1/sessions', {
      agent: 'shell',
      prompt: 'true',
      pool: 'md',
      dryRun: true,
    });
    expect(after.body.decision.verdicts.find((x) => x.poolName === 'md')?.reason).not.toBe('credential_missing');
  }, 120_000);

  it('a pool with provider modal runs a session in a sandbox whose agent dialled in; a wall-clock cost event and nothing left', async () => {
    const created = await createSession(srv, {
      pool: 'md',
      prompt: 'echo made > /workspace/made.txt; cat /workspace/made.txt; pwd',
    });
    const done = await taskDone(srv, created.tasks![0]!.id, 120_000);
    const lines = await taskLines(srv, done.id);
    expect(done.state, lines.join('\n')).toBe('succeeded');
    expect(lines).toEqual(['made', '/workspace']);
    const s = await getSession(srv, created.id);
    const [sb] = await running(created.id);
    expect(sb, 'the runner sandbox').toBeDefined();
    expect(sb!.tags).toMatchObject({ [tagKeys(target.prefix).runner]: s.runnerId });
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

  it('a pool asking for a GPU passes it to Modal: the create request carries it, and the session runs', async () => {
    const s = await idleSession('mdgpu');
    const [sb] = await running(s.id);
    expect(sb, 'the runner sandbox').toBeDefined();
    expect(sb!.resources.gpuConfig).toMatchObject({ gpuType: 'A10G', count: 1 });
    // With a GPU the SDK uses Modal's V1 sandbox calls (V2 has no GPUs).
    expect(sb!.family).toBe('v1');
    await end(s.id);
  }, 300_000);

  it("snapshot (Modal's filesystem snapshot) ends the sandbox, and resume creates one from the image with the workspace intact", async () => {
    const s = await idleSession('mdsnap');
    await runTask(srv, s.id, 'echo snap > /workspace/s.txt; echo tool > /tmp/outside.txt');
    const r = await srv.api<SessionObj>('POST', `/v1/sessions/${s.id}/suspend`, {});
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.suspend?.strategy).toBe('snapshot');
    expect(await running(s.id)).toEqual([]);
    expect(snapshotImages()).toHaveLength(1);

    const back = await srv.api('POST', `/v1/sessions/${s.id}/resume`);
    expect(back.status, JSON.stringify(back.body)).toBe(200);
    expect(await runTask(srv, s.id, 'cat /workspace/s.txt /tmp/outside.txt')).toEqual(['snap', 'tool']);
    expect((await getSession(srv, s.id)).runnerId).not.toBe(s.runnerId);
    await end(s.id);
    // The session ended: its snapshot image is deleted with it.
    await until(async () => snapshotImages().length === 0, 'the snapshot image to be deleted', 30_000);
  }, 300_000);

  it('terminate_preserve_storage keeps the workspace in the store, ends the sandbox, and resume brings it back on a new one', async () => {
    const s = await idleSession('md');
    await runTask(srv, s.id, 'mkdir -p /workspace/src && echo kept > /workspace/src/keep.txt');
    const [box] = await running(s.id);
    const sus = await srv.mctl(['-o', 'json', 'sessions', 'suspend', s.id, '--strategy', 'terminate_preserve_storage']);
    expect(sus.code, sus.stderr).toBe(0);
    expect(json<SessionObj>(sus).suspend?.strategy).toBe('terminate_preserve_storage');
    expect(await running(s.id)).toEqual([]);
    const snaps = json<{ reason: string }[]>(await srv.mctl(['-o', 'json', 'workspaces', 'list', '--session', s.id]));
    expect(snaps.map((x) => x.reason)).toContain('suspend');

    const back = await srv.mctl(['sessions', 'resume', s.id]);
    expect(back.code, back.stderr).toBe(0);
    expect(await runTask(srv, s.id, 'cat /workspace/src/keep.txt')).toEqual(['kept']);
    const boxes = await running(s.id);
    expect(boxes).toHaveLength(1);
    expect(boxes[0]!.id).not.toBe(box!.id);
    await end(s.id);
  }, 300_000);

  it('a provision that fails after the sandbox exists leaves nothing, and the session fails with Modal’s message', async () => {
    target.standin.fail('sandboxWait', {
      code: Status.FAILED_PRECONDITION,
      message: 'worker preempted (stand-in)',
      newSandboxesOnly: true,
    });
    const created = await createSession(srv, { pool: 'md', prompt: 'true' });
    const failed = await sessionIn(srv, created.id, ['failed'], 120_000);
    expect(failed.stateReason).toContain('provisioning on pool md failed');
    expect(failed.stateReason).toContain('worker preempted (stand-in)');
    expect(target.standin.engine.sandboxes.size).toBeGreaterThan(0);
    await expectNothingLeft();
  }, 300_000);

  it("the org's token secret is in no server output, session, runner or audit answer", async () => {
    const secret = target.env.MODAL_TOKEN_SECRET!;
    const answers = await Promise.all(
      ['/v1/sessions', '/v1/runners', '/v1/audit', '/v1/provider-credentials'].map((p) => srv.api('GET', p)),
    );
    for (const r of answers) expect(r.status, JSON.stringify(r.body)).toBe(200);
    const text = [...output, ...answers.map((r) => JSON.stringify(r.body))].join('\n');
    // The provider-credentials answer names the stored fields (so the grep reads real answers).
    expect(text).toContain('tokenSecret');
    expect(text.length).toBeGreaterThan(0);
    expect(text).not.toContain(secret);
  }, 60_000);
});
