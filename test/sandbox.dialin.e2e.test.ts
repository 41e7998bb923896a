/**
 * Nested sandboxes on pools whose runners join (provider `pool`): each agent reports its runtimes
 * in hello and the server keeps them with the runner; a session of a pool asking for gVisor is
 * never given to a runner without runsc (a real agent whose PATH lacks it), its verdict is
 * `missing_requirement` naming gvisor while no runner of the pool has it, and it is placed on
 * the first runner that joins with it. Its egress is applied per task, so a session narrows the
 * pool's policy on a runner that joined (no fresh runner needed).
 */
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectRuntimes } from '../src/agent/sandbox/detect.js';
import { type ServerHandle, type SessionView, startServer, until } from './harness.js';
import { Agents, createToken, idleRunners } from './pools.helpers.js';

const required = process.env.MARIONETTE_REQUIRE_SANDBOX === '1';
const found = detectRuntimes(process.env.PATH ?? '').found;

describe.skipIf(!found.has('gvisor') && !required)('a pool runners join, asking for gvisor', () => {
  let srv: ServerHandle;
  let bin: string;
  let token: string;
  const agents = new Agents();
  beforeAll(async () => {
    // A PATH with node, a shell and bwrap, but no runsc.
    bin = mkdtempSync(join(tmpdir(), 'mnorunsc-'));
    for (const b of ['node', 'bash', 'sh', 'env', 'cat', 'sleep', 'true', 'bwrap']) {
      try {
        symlinkSync(`/usr/bin/${b}`, join(bin, b));
      } catch {
        /* not there */
      }
    }
    srv = await startServer();
    const p = await srv.api('POST', '/v1/pools', {
      name: 'gv',
      provider: 'pool',
      sandboxMode: 'runner-creates-sandbox',
      sandboxConfig: { sandbox: { runtime: 'gvisor' } },
    });
    expect(p.status, JSON.stringify(p.body)).toBe(201);
    token = (await createToken(srv, ['--pool', 'gv'])).token;
  }, 60_000);
  afterAll(async () => {
    agents.cleanup();
    await srv?.destroy();
    rmSync(bin, { recursive: true, force: true });
  });

  it('a runner without runsc gets no session (the verdict names gvisor); one with it runs it, and narrows egress per session', async () => {
    agents.start(srv, ['--token', token, '--pool', 'gv', '--name', 'plain'], { PATH: bin });
    const [plain] = await idleRunners(srv, 'gv', 1);
    expect(plain?.name).toBe('plain');
    const refused = await srv.api('POST', '/v1/sessions', {
      agent: 'shell',
      prompt: 'echo hi',
      pool: 'gv',
      waitForCapacity: false,
    });
    expect(refused.status).toBeGreaterThanOrEqual(400);
    const text = JSON.stringify(refused.body);
    expect(text).toContain('missing_requirement');
    expect(text).toMatch(
      /sandbox runtime gvisor .*none of the pool's 1 live runner\(s\) reports it \(they report: bubblewrap\)/,
    );

    // A session that waits: it stays unplaced with the reason while only that runner is there.
    const s = await srv.api<{ id: string }>('POST', '/v1/sessions', {
      agent: 'shell',
      prompt: 'echo in-gvisor',
      pool: 'gv',
    });
    expect(s.status, JSON.stringify(s.body)).toBe(201);
    const waiting = await until(
      async () => {
        const v = (await srv.api<SessionView>('GET', `/v1/sessions/${s.body.id}`)).body;
        return v.stateReason?.includes('missing_requirement') ? v : null;
      },
      'the waiting reason names the requirement',
      30_000,
    );
    expect(waiting.runnerId).toBeNull();
    expect(waiting.stateReason).toMatch(/gvisor/);

    // A runner with runsc joins: the session goes there, never to the plain one.
    agents.start(srv, ['--token', token, '--pool', 'gv', '--name', 'withrunsc']);
    const done = await until(
      async () => {
        const v = (await srv.api<SessionView>('GET', `/v1/sessions/${s.body.id}`)).body;
        const st = v.tasks[0]?.state;
        return st && !['queued', 'assigned', 'running'].includes(st) ? v : null;
      },
      'the task ran',
      90_000,
    );
    expect(done.tasks[0]?.state).toBe('succeeded');
    expect(done.runnerId).not.toBe(plain!.id);
    const logs = (
      await srv.api<{ items: { line: string }[] }>('GET', `/v1/tasks/${done.tasks[0]!.id}/logs`)
    ).body.items.map((l) => l.line);
    expect(logs).toContain('in-gvisor');
    expect(logs.some((l) => l.includes('running in a gvisor sandbox'))).toBe(true);

    // The nested sandbox applies egress per task: a session narrows the pool's policy on a runner that joined.
    expect((await srv.api('POST', `/v1/sessions/${s.body.id}/cancel`)).status).toBe(200);
    const patched = await srv.api('PATCH', '/v1/pools/gv', { network: { egress: { allow: ['127.0.0.2'] } } });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    const narrow = await srv.api<{ id: string }>('POST', '/v1/sessions', {
      agent: 'shell',
      prompt: 'echo narrowed',
      pool: 'gv',
      waitForCapacity: false,
      network: { egress: 'none' },
    });
    expect(narrow.status, JSON.stringify(narrow.body)).toBe(201);
    const n = await until(
      async () => {
        const v = (await srv.api<SessionView>('GET', `/v1/sessions/${narrow.body.id}`)).body;
        const st = v.tasks[0]?.state;
        return st && !['queued', 'assigned', 'running'].includes(st) ? v : null;
      },
      'the narrowed task ran',
      90_000,
    );
    expect(n.tasks[0]?.state).toBe('succeeded');
    expect(n.runnerId).not.toBe(plain!.id);
    const nlogs = (
      await srv.api<{ items: { line: string }[] }>('GET', `/v1/tasks/${n.tasks[0]!.id}/logs`)
    ).body.items.map((l) => l.line);
    expect(nlogs.some((l) => l.includes('gvisor sandbox (network: no network)'))).toBe(true);
  }, 180_000);
});
