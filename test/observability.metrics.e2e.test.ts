/**
 * /healthz, /readyz and /metrics on the real server: the first two answer without a token, /metrics
 * needs one and parses as Prometheus text, and its counters move when a session runs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, type ServerHandle, type SessionView, startServer } from './harness.js';
import { parsePrometheusText, sum } from './prom-text.support.js';

let srv: ServerHandle;

beforeAll(async () => {
  srv = await startServer();
});
afterAll(async () => {
  await srv?.destroy();
});

async function metrics() {
  const r = await fetch(`${srv.apiUrl}/metrics`, { headers: { authorization: `Bearer ${srv.token}` } });
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(await r.text());
}

describe('health endpoints', () => {
  it('answers /healthz and /readyz without a token', async () => {
    const h = await srv.api<{ ok: boolean; version: string }>('GET', '/healthz', undefined, null);
    expect(h.status).toBe(200);
    expect(h.body.ok).toBe(true);
    const r = await srv.api<{ ok: boolean; checks: Record<string, { ok: boolean; detail: string }> }>(
      'GET',
      '/readyz',
      undefined,
      null,
    );
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.checks.store?.ok).toBe(true);
    expect(r.body.checks.migrations).toEqual({ ok: true, detail: 'all applied' });
    expect(r.body.checks.gateway).toEqual({ ok: true, detail: 'listening' });
  });

  it('refuses /metrics without a token and to a viewer', async () => {
    expect((await srv.api('GET', '/metrics', undefined, null)).status).toBe(401);
    const v = await srv.api<{ token: string }>('POST', '/v1/tokens', { role: 'viewer', name: 'v' });
    expect((await srv.api('GET', '/metrics', undefined, v.body.token)).status).toBe(403);
  });
});

describe('/metrics', () => {
  it('parses as Prometheus text and its counters move when a session runs', async () => {
    const before = await metrics();
    for (const name of [
      'marionette_dispatch_latency_seconds',
      'marionette_tasks_finished_total',
      'marionette_provisioning_seconds',
      'marionette_provisioning_failures_total',
      'marionette_log_lines_total',
      'marionette_log_bytes_total',
      'marionette_suspend_duration_seconds',
      'marionette_store_commit_seconds',
      'marionette_queue_depth',
      'marionette_sessions_waiting',
      'marionette_runners',
      'nodejs_eventloop_lag_seconds',
    ])
      expect(before.has(name), name).toBe(true);
    expect(before.get('marionette_dispatch_latency_seconds')?.type).toBe('histogram');
    expect(before.get('marionette_tasks_finished_total')?.type).toBe('counter');

    const created = await srv.mctl([
      '-o',
      'json',
      'sessions',
      'create',
      '--agent',
      'shell',
      '--prompt',
      'for i in 1 2 3 4 5; do echo line-$i; done',
      '--wait',
    ]);
    expect(created.code, created.stderr).toBe(0);
    const session = json<SessionView>(created);
    expect(session.tasks[0]?.state).toBe('succeeded');

    const after = await metrics();
    const ok = { outcome: 'succeeded' };
    expect(sum(after, 'marionette_tasks_finished_total', ok)).toBe(
      sum(before, 'marionette_tasks_finished_total', ok) + 1,
    );
    expect(sum(after, 'marionette_log_lines_total')).toBeGreaterThanOrEqual(
      sum(before, 'marionette_log_lines_total') + 5,
    );
    expect(sum(after, 'marionette_log_bytes_total')).toBeGreaterThanOrEqual(
      sum(before, 'marionette_log_bytes_total') + 'line-1'.length * 5,
    );
    expect(sum(after, 'marionette_dispatch_latency_seconds_count')).toBe(
      sum(before, 'marionette_dispatch_latency_seconds_count') + 1,
    );
    expect(sum(after, 'marionette_store_commit_seconds_count')).toBeGreaterThan(
      sum(before, 'marionette_store_commit_seconds_count'),
    );
    // The local runner started for it: provisioned once, and live (idle, kept for the session) now.
    expect(sum(after, 'marionette_provisioning_seconds_count', { provider: 'local' })).toBeGreaterThanOrEqual(1);
    expect(sum(after, 'marionette_runners', { provider: 'local' })).toBeGreaterThanOrEqual(1);
  }, 60_000);
});

describe('the Prometheus text parser', () => {
  it('refuses text that is not the format', () => {
    expect(() => parsePrometheusText('a{b="c} 1\n')).toThrow(/line 1/);
    expect(() => parsePrometheusText('a 1x\n')).toThrow(/bad value/);
    expect(() => parsePrometheusText('a 1\n# TYPE a counter\n')).toThrow(/after its samples/);
    expect(() =>
      parsePrometheusText('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\n'),
    ).toThrow(/not cumulative/);
    expect(parsePrometheusText('# TYPE x gauge\nx{a="q\\"\\n"} 3 1700000000000\n').get('x')?.samples[0]).toEqual({
      name: 'x',
      labels: { a: 'q"\n' },
      value: 3,
    });
  });
});
