/**
 * Nested sandboxes through the whole system: the default `local` pool runs its tasks in one when
 * the host has a runtime, a task there cannot read the server's token, a pool asking for a
 * runtime the host lacks gets a `missing_requirement` verdict naming it, and bad sandbox settings
 * are refused with the key named.
 */
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectRuntimes } from '../src/agent/sandbox/detect.js';
import { type ServerHandle, type SessionView, startServer, until } from './harness.js';

const required = process.env.MARIONETTE_REQUIRE_SANDBOX === '1';
const found = detectRuntimes(process.env.PATH ?? '').found;

async function finished(srv: ServerHandle, id: string): Promise<SessionView> {
  return until(
    async () => {
      const x = (await srv.api<SessionView>('GET', `/v1/sessions/${id}`)).body;
      const st = x.tasks[0]?.state;
      return st && !['queued', 'assigned', 'running'].includes(st) ? x : null;
    },
    'task ended',
    90_000,
  );
}

async function logs(srv: ServerHandle, taskId: string): Promise<{ stream: string; line: string }[]> {
  return (await srv.api<{ items: { stream: string; line: string }[] }>('GET', `/v1/tasks/${taskId}/logs`)).body.items;
}

describe.skipIf(!found.has('bubblewrap') && !required)('the default local pool with a nested sandbox', () => {
  let srv: ServerHandle;
  beforeAll(async () => {
    srv = await startServer({ env: { MARIONETTE_LOCAL_SANDBOX: 'auto' } });
  }, 60_000);
  afterAll(async () => {
    await srv?.destroy();
  });

  it('is runner-creates-sandbox, and its task works in its workspace but cannot read the server token', async () => {
    const pool = (await srv.api<{ sandboxMode: string }>('GET', '/v1/pools/local')).body;
    expect(pool.sandboxMode).toBe('runner-creates-sandbox');
    const s = await srv.api<{ id: string }>('POST', '/v1/sessions', {
      agent: 'shell',
      prompt: `echo made > f.txt && cat f.txt; cat ${srv.home}/token && echo TOKEN-READ; echo done`,
    });
    expect(s.status).toBe(201);
    const v = await finished(srv, s.body.id);
    expect(v.tasks[0]).toMatchObject({ state: 'succeeded' });
    const items = await logs(srv, v.tasks[0]!.id);
    const out = items.filter((l) => l.stream === 'stdout').map((l) => l.line);
    expect(out).toEqual(['made', 'done']);
    expect(items.some((l) => l.line.includes('running in a bubblewrap sandbox'))).toBe(true);
    const token = srv.token;
    expect(items.some((l) => l.line.includes(token))).toBe(false);
  }, 120_000);

  it('a task past its timeout ends timed_out', async () => {
    const s = await srv.api<{ id: string }>('POST', '/v1/sessions', {
      agent: 'shell',
      prompt: 'echo start; sleep 60',
      taskTimeoutMs: 1500,
    });
    const v = await finished(srv, s.body.id);
    expect(v.tasks[0]!.state).toBe('timed_out');
  }, 120_000);
});

describe('sandbox settings and verdicts', () => {
  let srv: ServerHandle;
  let bin: string;
  beforeAll(async () => {
    // The server's (and its local runners') PATH: node and bash, but no runsc.
    bin = mkdtempSync(join(tmpdir(), 'mnorunsc-'));
    for (const b of ['node', 'bash', 'sh', 'env', 'cat', 'sleep', 'bwrap']) {
      try {
        symlinkSync(`/usr/bin/${b}`, join(bin, b));
      } catch {
        /* not there */
      }
    }
    srv = await startServer({ env: { PATH: bin } });
  }, 60_000);
  afterAll(async () => {
    await srv?.destroy();
    rmSync(bin, { recursive: true, force: true });
  });

  it('a pool asking for gvisor on a host without runsc: the verdict is missing_requirement naming gvisor', async () => {
    const p = await srv.api('POST', '/v1/pools', {
      name: 'gv',
      provider: 'local',
      sandboxMode: 'runner-creates-sandbox',
      sandboxConfig: { sandbox: { runtime: 'gvisor', memory: '256Mi', pids: 128 } },
    });
    expect(p.status).toBe(201);
    const s = await srv.api<{ detail?: string; verdicts?: { poolName: string; reason: string; detail: string }[] }>(
      'POST',
      '/v1/sessions',
      { agent: 'shell', prompt: 'echo hi', pool: 'gv', waitForCapacity: false },
    );
    expect(s.status).toBeGreaterThanOrEqual(400);
    const text = JSON.stringify(s.body);
    expect(text).toContain('missing_requirement');
    expect(text).toMatch(/sandbox runtime gvisor .*runsc not found on PATH/);
  }, 60_000);

  it('mctl tasks create --task-timeout: that task ends timed_out; bad values are refused', async () => {
    const s = await srv.api<{ id: string }>('POST', '/v1/sessions', { agent: 'shell', prompt: 'echo first' });
    await finished(srv, s.body.id);
    const r = await srv.mctl([
      'tasks',
      'create',
      '--session',
      s.body.id,
      '--prompt',
      'sleep 60',
      '--task-timeout',
      '2s',
      '-o',
      'json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const t = JSON.parse(r.stdout) as { id: string; timeoutMs: number };
    expect(t.timeoutMs).toBe(2000);
    const ended = await until(
      async () => {
        const x = (await srv.api<{ state: string }>('GET', `/v1/tasks/${t.id}`)).body;
        return ['queued', 'assigned', 'running'].includes(x.state) ? null : x;
      },
      'task ended',
      60_000,
    );
    expect(ended.state).toBe('timed_out');
    const bad = await srv.mctl([
      'tasks',
      'create',
      '--session',
      s.body.id,
      '--prompt',
      'true',
      '--task-timeout',
      'soon',
    ]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--task-timeout/);
    const zero = await srv.api('POST', `/v1/sessions/${s.body.id}/tasks`, { prompt: 'true', taskTimeoutMs: 0 });
    expect(zero.status).toBe(400);
  }, 120_000);

  it('bad sandbox settings are refused, naming the key', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [
        { sandbox: { runtime: 'firecracker' } },
        /sandbox_config\.sandbox\.runtime: "firecracker" is not auto, gvisor or bubblewrap/,
      ],
      [{ sandbox: { memory: 'lots' } }, /sandbox_config\.sandbox\.memory: "lots" is not a whole number/],
      [{ sandbox: { pids: 2 } }, /sandbox_config\.sandbox\.pids: 2 is not a whole number ≥ 8/],
      [
        { sandbox: { binds: ['relative/dir'] } },
        /sandbox_config\.sandbox\.binds\.0: "relative\/dir" is not an absolute path/,
      ],
      [{ sandbox: { network: 'allow-all' } }, /sandbox_config\.sandbox\.network/],
      [{ sandbox: { cpu: 1 } }, /sandbox_config\.sandbox\.cpu: unknown key/],
    ];
    for (const [i, [sandboxConfig, msg]] of cases.entries()) {
      const r = await srv.api('POST', '/v1/pools', {
        name: `bad${i}`,
        provider: 'local',
        sandboxMode: 'runner-creates-sandbox',
        sandboxConfig,
      });
      expect(r.status, JSON.stringify(sandboxConfig)).toBe(400);
      expect((r.body as { detail: string }).detail).toMatch(msg);
    }
    const docker = await srv.api('POST', '/v1/pools', {
      name: 'dk',
      provider: 'docker',
      sandboxMode: 'runner-creates-sandbox',
    });
    expect(docker.status).toBe(400);
    expect((docker.body as { detail: string }).detail).toMatch(/runners are sandboxes already/);
    const pools = (await srv.api<{ items: { name: string }[] }>('GET', '/v1/pools')).body.items.map((p) => p.name);
    expect(pools.filter((n) => n.startsWith('bad') || n === 'dk')).toEqual([]);
  }, 60_000);
});
