/**
 * @module The REST API's Fastify app under `/v1`: bearer-token auth and the role check (./auth.ts),
 * the audit log (./audit.ts), RFC 9457 problems for every
 * error, 507 for writes while the store cannot write. The routes are in ./routes/.
 */
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance } from 'fastify';
import type { ApiPrincipal } from '../store/repos/auth.js';
import { Api } from './api.js';
import { installAudit } from './audit.js';
import { installAuth } from './auth.js';
import type { ServerContext } from './context.js';
import { installProblemHandlers, problemServerOptions } from './http-problems.js';
import { installProjectScope } from './project-scope.js';
import { dashboardStatic } from './routes/dashboard.js';
import { type RouteServices, registerRoutes } from './routes/index.js';
import { storageReason, storageRefusal } from './storage-health.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: ApiPrincipal;
  }
  interface FastifyContextConfig {
    auth?: boolean;
    /** The operation (src/api/operations.ts) a route implements: its access is in src/api/roles.ts. */
    operationId?: string;
  }
}

/** What the routes need (see ./routes/index.ts); `storage` also makes writes 507 while the store cannot write. */
export type AppServices = RouteServices;

/** `tls`: serve HTTPS with this certificate and key (src/server/tls.ts); absent = plain HTTP. */
export function buildApp(
  ctx: ServerContext,
  services: AppServices,
  tls?: { cert: Buffer; key: Buffer } | null,
): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: ctx.config.maxPromptBytes + 64 * 1024,
    ...problemServerOptions(),
    ...(tls ? { https: { cert: tls.cert, key: tls.key } } : {}),
  }) as unknown as FastifyInstance;
  // Who calls (a store read per request: revocation holds at once) and may they; then the audit log.
  // `mctl sessions cp` uploads a tar: its route reads the request stream itself (routes/session-files.ts).
  app.addContentTypeParser('application/x-tar', (_req, _payload, done) => done(null, undefined));
  // WebSocket routes (`mctl sessions exec -it`): the upgrade goes through the same hooks as any request.
  app.register(websocket, { options: { maxPayload: 1 << 20 } });
  installAuth(app, ctx);
  installProjectScope(app, ctx);
  installAudit(app, ctx);

  // While the store cannot write (disk full), writes are refused up front with 507 naming why.
  app.addHook('onRequest', async (req) => {
    const failing = services.storage?.store;
    if (failing && req.method !== 'GET' && req.method !== 'HEAD' && req.method !== 'OPTIONS')
      throw storageRefusal(failing);
  });
  installProblemHandlers(
    app,
    (err, url) => ctx.log.error({ err, url }, 'request failed'),
    (err) => {
      // A write that failed for lack of space (or a failing disk) is a 507, and marks the store unhealthy.
      const reason = storageReason(err);
      if (!reason) return null;
      services.storage?.failed('store', err);
      return storageRefusal({ reason, message: (err as Error).message, since: Date.now() });
    },
    (text) => ctx.redactor.redact(text),
  );

  registerRoutes(new Api(app), ctx, services);
  dashboardStatic(app);
  return app;
}
