/**
 * @module The REST API's routes layer: every route group is registered here, in one place, over
 * the route helper (../api.ts) that validates requests with the shared schemas (src/api/schemas.ts)
 * and documents each operation from the operations table (src/api/operations.ts). Route groups
 * that live with their service (pools and profiles in ../pools.ts, registration tokens in
 * ../tokens.ts) are passed in as `extend`.
 */
import { VERSION } from '../../paths.js';
import type { Api } from '../api.js';
import type { ServerContext } from '../context.js';
import { costRoutes } from '../costs.js';
import type { SessionService } from '../sessions.js';
import { healthReport, type StorageHealth } from '../storage-health.js';
import type { SuspendService } from '../suspend.js';
import { watchRoutes } from '../watch.js';
import { agentRoutes } from './agents.js';
import { dashboardRoutes } from './dashboard.js';
import { eventStreamRoutes } from './events-stream.js';
import { healthRoutes, type Observability } from './health.js';
import { kitRoutes } from './kits.js';
import { providerCredentialRoutes } from './provider-credentials.js';
import { runnerRoutes } from './runners.js';
import { securityRoutes } from './security.js';
import { sessionRoutes } from './sessions.js';
import { taskRoutes } from './tasks.js';
import { type WorkspaceRouteDeps, workspaceRoutes } from './workspaces.js';

export interface RouteServices {
  sessions: SessionService;
  /** Suspend and resume (POST /v1/sessions/:id/suspend, /resume). */
  suspend: SuspendService;
  storage?: StorageHealth;
  /** /healthz, /readyz and /metrics (./health.ts). */
  observability?: Observability;
  /** The workspace store's snapshots, downloads and collection (absent: no workspace routes). */
  workspaces?: WorkspaceRouteDeps;
  /** Route groups kept with their service (pools, profiles, providers, tokens). */
  extend?: (api: Api) => void;
}

export function registerRoutes(api: Api, ctx: ServerContext, services: RouteServices): void {
  const { sessions } = services;
  api.route(
    'GET',
    '/v1/healthz',
    { summary: 'Liveness, and why writes fail (disk full, store write failing)', tag: 'meta', auth: false },
    async ({ reply }) => {
      const h = { ...healthReport(services.storage), version: VERSION };
      return h.ok ? h : reply.code(503).send(h);
    },
  );
  if (services.observability) healthRoutes(api, services.observability);
  sessionRoutes(api, ctx, sessions, services.suspend);
  taskRoutes(api, ctx, sessions);
  watchRoutes(ctx, api, sessions);
  runnerRoutes(api, ctx);
  agentRoutes(api, ctx, sessions);
  kitRoutes(api, ctx);
  providerCredentialRoutes(api, ctx);
  costRoutes(ctx, api);
  securityRoutes(api, ctx);
  eventStreamRoutes(api, ctx);
  dashboardRoutes(api, ctx);
  if (services.workspaces) workspaceRoutes(api, ctx, sessions, services.workspaces);
  services.extend?.(api);
  api.route('GET', '/v1/openapi.json', { summary: 'This document', tag: 'meta', auth: false }, async () =>
    api.openapi(VERSION),
  );
}
