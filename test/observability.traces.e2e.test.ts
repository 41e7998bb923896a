/**
 * OpenTelemetry traces: with OTEL_EXPORTER_OTLP_ENDPOINT set, a session's path (decide, provision,
 * assign, run, under a root `session` span) arrives as OTLP/HTTP JSON at a collector the test runs
 * on loopback; a bad endpoint stops the start naming the variable.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, type ServerHandle, type SessionView, startServer, until } from './harness.js';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: { key: string; value: Record<string, unknown> }[];
  status: { code?: number; message?: string };
}

let collector: Server;
let srv: ServerHandle;
const spans: OtlpSpan[] = [];
const paths: string[] = [];

beforeAll(async () => {
  collector = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      paths.push(`${req.method} ${req.url} ${req.headers['content-type']}`);
      const doc = JSON.parse(body) as {
        resourceSpans: { resource: unknown; scopeSpans: { spans: OtlpSpan[] }[] }[];
      };
      for (const rs of doc.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  const { port } = collector.address() as AddressInfo;
  srv = await startServer({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}/` } });
  // A local pool with no warm runner, so this session's runner is provisioned for it (a provision span).
  const p = await srv.mctl([
    'pools',
    'create',
    'cold',
    '--mode',
    'managed',
    '--provider',
    'local',
    '--min-runners',
    '0',
  ]);
  if (p.code !== 0) throw new Error(p.stderr);
});
afterAll(async () => {
  await srv?.destroy();
  await new Promise((r) => collector?.close(r));
});

describe('traces', () => {
  it("exports a session's path as one trace: decide, provision, assign, run under session", async () => {
    const created = await srv.mctl([
      '-o',
      'json',
      'sessions',
      'create',
      '--agent',
      'shell',
      '--pool',
      'cold',
      '--prompt',
      'echo traced',
      '--wait',
    ]);
    expect(created.code, created.stderr).toBe(0);
    const s = json<SessionView>(created);
    expect((await srv.mctl(['sessions', 'cancel', s.id])).code).toBe(0);
    const attr = (sp: OtlpSpan, key: string) => sp.attributes.find((a) => a.key === key)?.value;
    const mine = () =>
      spans.filter((sp) => attr(sp, 'marionette.session.id')?.stringValue === s.id || sp.name !== 'session');
    await until(
      async () => ['session', 'decide', 'provision', 'assign', 'run'].every((n) => mine().some((sp) => sp.name === n)),
      `the five spans at the collector (got ${JSON.stringify(spans.map((x) => x.name))})`,
      30_000,
    );
    expect(paths[0]).toBe('POST /v1/traces application/json');
    const root = spans.find((sp) => sp.name === 'session' && attr(sp, 'marionette.session.id')?.stringValue === s.id)!;
    expect(root.parentSpanId).toBeUndefined();
    expect(root.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(attr(root, 'marionette.session.state')).toEqual({ stringValue: 'cancelled' });
    const children = spans.filter((sp) => sp.traceId === root.traceId && sp !== root);
    expect(children.map((c) => c.name).sort()).toEqual(['assign', 'decide', 'provision', 'run']);
    for (const c of children) {
      expect(c.parentSpanId).toBe(root.spanId);
      expect(BigInt(c.endTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(c.startTimeUnixNano));
      expect(BigInt(c.startTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(root.startTimeUnixNano));
    }
    const run = children.find((c) => c.name === 'run')!;
    expect(attr(run, 'marionette.task.state')).toEqual({ stringValue: 'succeeded' });
    expect(run.status.code).toBeUndefined();
    const decide = children.find((c) => c.name === 'decide')!;
    const assign = children.find((c) => c.name === 'assign')!;
    expect(BigInt(decide.startTimeUnixNano)).toBeLessThanOrEqual(BigInt(assign.endTimeUnixNano));
    expect(BigInt(assign.endTimeUnixNano)).toBeLessThanOrEqual(BigInt(run.startTimeUnixNano));
  }, 60_000);

  it('refuses to start with an endpoint that is not an http(s) URL, naming the variable', async () => {
    await expect(startServer({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'ftp://collector:4318' } })).rejects.toThrow(
      /OTEL_EXPORTER_OTLP_ENDPOINT: "ftp:\/\/collector:4318" must be an http:\/\/ or https:\/\/ URL/,
    );
  });
});
