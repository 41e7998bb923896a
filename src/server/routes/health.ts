/**
 * @module Operator endpoints outside `/v1`: `GET /healthz` (the process is up: answers without
 * touching the store), `GET /readyz` (store reachable, migrations applied, gateway listening; 503
 * naming what is not) and `GET /metrics` (Prometheus text format, ../metrics.ts). The first two are
 * public and cheap, for load balancers and Kubernetes probes; /metrics needs an operator token
 * (pool and provider ids of every org are in it).
 */
import { VERSION } from '../../paths.js';
import type { Api } from '../api.js';
import type { ServerMetrics } from '../metrics.js';
import type { Readiness } from '../readiness.js';

export interface Observability {
  readiness: () => Promise<Readiness>;
  metrics: ServerMetrics;
}

export function healthRoutes(api: Api, obs: Observability): void {
  const started = Date.now();
  api.route(
    'GET',
    '/healthz',
    { summary: 'The process is up (never reads the store)', tag: 'meta', auth: false },
    async () => ({ ok: true, version: VERSION, uptimeSeconds: Math.round((Date.now() - started) / 1000) }),
  );
  api.route(
    'GET',
    '/readyz',
    { summary: 'Ready for traffic: store reachable, migrations applied, gateway listening', tag: 'meta', auth: false },
    async ({ reply }) => {
      const r = await obs.readiness();
      return r.ok ? r : reply.code(503).send(r);
    },
  );
  api.route('GET', '/metrics', { summary: 'Prometheus metrics (text format)', tag: 'meta' }, async ({ reply }) => {
    const { contentType, body } = await obs.metrics.text();
    return reply.type(contentType).send(body);
  });
}
