/**
 * @module The REST API's Fastify app under `/v1`: bearer-token auth, RFC 9457 problems for every
 * error, 507 for writes while the store cannot write. The routes are in ./routes/.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { Unauthorized } from '../core/errors.js';
import { hashSecret } from '../core/ids.js';
import type { ApiPrincipal } from '../store/repos/auth.js';
import { Api } from './api.js';
import type { ServerContext } from './context.js';
import { installProblemHandlers, problemServerOptions } from './http-problems.js';
import { type RouteServices, registerRoutes } from './routes/index.js';
import { storageReason, storageRefusal } from './storage-health.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: ApiPrincipal;
  }
  interface FastifyContextConfig {
    auth?: boolean;
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
  const tokenCache = new Map<string, ApiPrincipal>();

  app.addHook('onRequest', async (req) => {
    if (req.routeOptions.config?.auth === false) return;
    const header = req.headers.authorization;
    if (!header)
      throw new Unauthorized(
        'missing bearer token',
        'pass --token or set MARIONETTE_TOKEN (the bootstrap token is in $MARIONETTE_HOME/token)',
      );
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m?.[1]) throw new Unauthorized('Authorization header must be "Bearer <token>"');
    const key = hashSecret(m[1]);
    let principal = tokenCache.get(key);
    if (!principal) {
      const found = await ctx.store.auth.findApiToken(m[1]);
      if (!found) throw new Unauthorized('invalid or revoked API token');
      principal = found;
      if (tokenCache.size > 1000) tokenCache.clear();
      tokenCache.set(key, principal);
    }
    req.principal = principal;
  });

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
  );

  registerRoutes(new Api(app), ctx, services);
  return app;
}
