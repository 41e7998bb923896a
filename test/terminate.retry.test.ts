/**
 * A terminate that fails is recorded and retried, and the runner is never `terminated` while its
 * sandbox may still run. The real `local` provider of an in-process server is wrapped in a
 * decorator whose first two `terminate` calls throw (as a backend that does not answer would):
 * the runner of a cancelled session stays `offline` (draining), never `terminated`, the session
 * records each failure (`runner_terminate_failed`), and the terminate is retried with backoff
 * until the third call goes through; only then is the runner `terminated` and its agent gone.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadServerConfig } from '../src/config/index.js';
import { ProviderUnavailable } from '../src/core/errors.js';
import type { SandboxHandle, SandboxProvider } from '../src/providers/types.js';
import { type RunningServer, startServer } from '../src/server/main.js';
import { until } from './harness.js';

let home: string;
let srv: RunningServer;

/** `real`, except that its first `failures` terminates throw. Records every terminate call. */
function failingTerminates(real: SandboxProvider, failures: number): { provider: SandboxProvider; calls: number[] } {
  const calls: number[] = [];
  let left = failures;
  const terminate = async (h: SandboxHandle) => {
    calls.push(Date.now());
    if (left-- > 0) throw new ProviderUnavailable(`injected: the backend did not answer (call ${calls.length})`);
    return real.terminate(h);
  };
  const provider = new Proxy(real, {
    get(target, key) {
      if (key === 'terminate') return terminate;
      const v: unknown = Reflect.get(target, key, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { provider, calls };
}

async function api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${srv.apiUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${srv.bootstrapToken}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as T };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface RunnerView {
  state: string;
  draining: boolean;
  handle: { externalId: string } | null;
}

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'marionette-terminate-retry-'));
  const cfg = join(home, 'marionette.yaml');
  writeFileSync(cfg, 'server: { log_level: fatal }\n');
  srv = await startServer(loadServerConfig({ config: cfg, home, port: 0, gatewayPort: 0 }, {}));
});

afterAll(async () => {
  await srv?.close({ terminateRunners: true });
  rmSync(home, { recursive: true, force: true });
});

describe('a provider whose terminate fails', () => {
  it('leaves the runner offline with its sandbox, records each failure, and retries until it succeeds', async () => {
    const flaky = failingTerminates(srv.ctx.providers.get('local')!, 2);
    srv.ctx.providers.set('local', flaky.provider);

    const created = await api<{ id: string }>('POST', '/v1/sessions', {
      agent: 'shell',
      pool: 'local',
      prompt: 'true',
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const sessionId = created.body.id;
    const runnerId = await until(
      async () => {
        const s = (
          await api<{ runnerId: string | null; tasks: Array<{ state: string }> }>('GET', `/v1/sessions/${sessionId}`)
        ).body;
        return s.tasks[0]?.state === 'succeeded' ? s.runnerId : null;
      },
      'the task to succeed',
      60_000,
    );
    const runner = async () => (await api<RunnerView>('GET', `/v1/runners/${runnerId}`)).body;
    const pid = Number((await runner()).handle!.externalId);
    expect(alive(pid)).toBe(true);

    expect((await api('POST', `/v1/sessions/${sessionId}/cancel`)).status).toBe(200);
    await until(async () => flaky.calls.length >= 1, 'the first terminate');
    // Failed once: not terminated, out of service, and its agent still runs.
    const afterFirst = await until(async () => {
      const r = await runner();
      return r.state === 'offline' ? r : null;
    }, 'the runner to go offline');
    expect(afterFirst.draining).toBe(true);
    // While terminate keeps failing the runner is never `terminated`. (Its agent may end by itself
    // meanwhile, its session over: that is the agent's doing, not the server's, so it is not asserted.)
    if (flaky.calls.length < 3) expect((await runner()).state).not.toBe('terminated');

    await until(async () => (await runner()).state === 'terminated', 'the retried terminate to succeed', 60_000);
    expect(flaky.calls).toHaveLength(3);
    await until(async () => !alive(pid), 'the agent to be gone');

    const events = (
      await api<{
        items: Array<{ type: string; data: { runnerId: string; attempt: number; error: string; retryInMs: number } }>;
      }>('GET', `/v1/sessions/${sessionId}/events`)
    ).body.items.filter((e) => e.type === 'runner_terminate_failed');
    expect(events.map((e) => e.data.attempt)).toEqual([1, 2]);
    expect(events.map((e) => e.data.retryInMs)).toEqual([1000, 2000]); // backoff doubles
    expect(events[0]!.data.runnerId).toBe(runnerId);
    expect(events[0]!.data.error).toContain('injected: the backend did not answer');
  });
});
