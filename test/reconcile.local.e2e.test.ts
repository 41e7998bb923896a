/**
 * The reconciler over `local`, through the provider contract like any other provider:
 * - a runner killed with `kill -9` is found dead by `status()` (the lease is 10 minutes here, so
 *   nothing else can notice), its task is lost and retried on a new runner;
 * - a runner a crashed server left half-provisioned (its row has no handle) while its process
 *   runs is terminated at the next start, and its process is reaped from the provider's records.
 * - a runner a previous server left `offline` and draining with its sandbox (its terminate
 *   failed, and the server died before a retry succeeded) is terminated again at the next start.
 * (A terminate that fails and its retries: test/terminate.retry.test.ts.)
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { type ServerHandle, type SessionView, startServer, type TaskView, until } from './harness.js';

const CONFIG = 'runners:\n  lease_timeout: 10m\n  max_retries: 1\n';
const servers: ServerHandle[] = [];
afterAll(async () => {
  for (const s of servers) await s.destroy();
});

interface RunnerView {
  id: string;
  state: string;
  handle: { externalId: string; metadata: Record<string, unknown> } | null;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function session(srv: ServerHandle, id: string): Promise<SessionView> {
  const r = await srv.api<SessionView>('GET', `/v1/sessions/${id}`);
  expect(r.status).toBe(200);
  return r.body;
}

async function runner(srv: ServerHandle, id: string): Promise<RunnerView> {
  const r = await srv.api<RunnerView>('GET', `/v1/runners/${id}`);
  expect(r.status).toBe(200);
  return r.body;
}

/** A session on the local pool whose first task runs until killed; resolves once it runs. */
async function runningSession(srv: ServerHandle, prompt: string): Promise<{ s: SessionView; r: RunnerView }> {
  const c = await srv.api<SessionView>('POST', '/v1/sessions', { agent: 'shell', pool: 'local', prompt });
  expect(c.status, JSON.stringify(c.body)).toBe(201);
  const s = await until(
    async () => {
      const v = await session(srv, c.body.id);
      return v.tasks[0]?.state === 'running' && v.runnerId ? v : null;
    },
    'the first task to run',
    60_000,
  );
  return { s, r: await runner(srv, s.runnerId!) };
}

describe('a local runner killed with kill -9', () => {
  it('is found dead through status(); its task is lost and retried on a new runner', async () => {
    const srv = await startServer({ config: CONFIG });
    servers.push(srv);
    const { s, r } = await runningSession(
      srv,
      'if [ -e first-ran ]; then echo retried; exit 0; fi; touch first-ran; sleep 600',
    );
    const pid = Number(r.handle!.externalId);
    process.kill(pid, 'SIGKILL'); // the agent only: its task runs in a group of its own
    const done = await until(
      async () => {
        const v = await session(srv, s.id);
        const last = v.tasks.at(-1);
        return v.tasks.length >= 2 && last?.state === 'succeeded' ? v : null;
      },
      'the retry to succeed',
      90_000,
    );
    const first = done.tasks.find((t: TaskView) => t.attempt === 1 || t.retryOf === null)!;
    expect(first.state).toBe('lost');
    expect(first.error).toContain(`the sandbox of runner ${r.id} is terminated`);
    expect(done.runnerId).not.toBe(r.id);
    expect(['offline', 'terminated']).toContain((await runner(srv, r.id)).state);
    expect((await srv.api('POST', `/v1/sessions/${s.id}/cancel`)).status).toBe(200);
  });
});

describe('a runner a crashed server left half-provisioned', () => {
  it('is terminated at the next start and its process reaped from the provider records', async () => {
    let srv = await startServer({ config: CONFIG });
    servers.push(srv);
    const { s, r } = await runningSession(srv, 'sleep 600');
    const pid = Number(r.handle!.externalId);
    await srv.stop(true);
    // What a crash between starting the agent and writing its handle leaves behind.
    const db = new Database(join(srv.home, 'marionette.db'));
    db.prepare("update runners set state = 'provisioning', handle = null where id = ?").run(r.id);
    db.close();
    expect(alive(pid)).toBe(true);
    srv = await srv.restart();
    servers.push(srv);
    await until(async () => !alive(pid), 'the orphaned agent to be killed', 60_000);
    expect((await runner(srv, r.id)).state).toBe('terminated');
    expect((await srv.api('POST', `/v1/sessions/${s.id}/cancel`)).status).toBe(200);
  });
});

describe('a runner a previous server left offline with its sandbox', () => {
  it('is terminated again at the next start', async () => {
    let srv = await startServer({ config: CONFIG });
    servers.push(srv);
    const { s, r } = await runningSession(srv, 'sleep 600');
    const pid = Number(r.handle!.externalId);
    await srv.stop(true);
    // What a failed terminate leaves (src/server/terminate-retry.ts) when the server dies before a retry.
    const db = new Database(join(srv.home, 'marionette.db'));
    db.prepare("update runners set state = 'offline', draining = 1 where id = ?").run(r.id);
    db.close();
    srv = await srv.restart();
    servers.push(srv);
    await until(async () => (await runner(srv, r.id)).state === 'terminated', 'the runner to be terminated', 60_000);
    await until(async () => !alive(pid), 'its agent to be gone');
    expect((await srv.api('POST', `/v1/sessions/${s.id}/cancel`)).status).toBe(200);
  });
});
