/**
 * @module The API's door: every request's bearer token is looked up in the store (one indexed
 * read, no cache, so a revocation or an expiry holds from the next request on, on every replica),
 * its principal set on `req.principal`, and the operation checked against the role table
 * (src/api/roles.ts): the token's role, and whether a token limited to a project may call it.
 * Refusals answer 401 (no token, or an unknown, revoked or expired one, each said apart) or 403
 * (role or scope), and are written to the audit log (./audit.ts).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type Access, accessOf, roleAllows } from '../api/roles.js';
import { Forbidden, Unauthorized } from '../core/errors.js';
import type { ApiPrincipal } from '../store/repos/auth.js';
import type { ServerContext } from './context.js';

/** `last_used_at` is written at most this often per token (a write per request would cost more than the read). */
const TOUCH_EVERY_MS = 60_000;

/** The operation a request is routed to (set by the route helper, src/server/api.ts); undefined for a 404. */
export function operationOf(req: FastifyRequest): string | undefined {
  return (req.routeOptions.config as { operationId?: string } | undefined)?.operationId;
}

async function principalOf(ctx: ServerContext, req: FastifyRequest): Promise<ApiPrincipal> {
  const header = req.headers.authorization;
  if (!header)
    throw new Unauthorized(
      'missing bearer token',
      'pass --token, set MARIONETTE_TOKEN or run `mctl login` (the bootstrap token is in $MARIONETTE_HOME/token)',
    );
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  if (!m?.[1]) throw new Unauthorized('Authorization header must be "Bearer <token>"');
  const now = Date.now();
  const found = await ctx.store.apiTokens.principal(m[1], now);
  if (found) return found;
  const why = await ctx.store.apiTokens.refusal(m[1], now);
  if (why.token) req.refusedToken = { id: why.token.id, name: why.token.name, orgId: why.token.orgId };
  if (why.reason === 'revoked')
    throw new Unauthorized(
      `API token ${why.token?.id} was revoked at ${new Date(why.token?.revokedAt ?? 0).toISOString()}`,
      'ask an admin for a new token (`mctl tokens create`)',
    );
  if (why.reason === 'expired')
    throw new Unauthorized(
      `API token ${why.token?.id} expired at ${new Date(why.token?.expiresAt ?? 0).toISOString()}`,
      'ask an admin for a new token, or to rotate this one with a new expiry (`mctl tokens rotate --expires-in`)',
    );
  throw new Unauthorized('invalid API token: no such token (check it was copied whole)');
}

/** Throws Forbidden unless `p` may call the operation with `access`. */
export function checkAccess(p: ApiPrincipal, operationId: string, access: Access | undefined): void {
  if (!access)
    throw new Forbidden(
      `operation ${operationId} is not in the role table (src/api/roles.ts), so no token may call it`,
    );
  if (!roleAllows(p.role, access.role))
    throw new Forbidden(
      `role ${p.role} may not call ${operationId}: it needs ${access.role} or above`,
      'see the roles table in docs/security.md; an admin can create a token with that role (`mctl tokens create`)',
    );
  if (access.scope === 'org' && p.projectId)
    throw new Forbidden(
      `this token is limited to project ${p.projectId}; ${operationId} needs a token for the whole org`,
    );
}

/** Installs the check on every route (routes with `auth: false` are public). */
export function installAuth(app: FastifyInstance, ctx: ServerContext): void {
  const touched = new Map<string, number>();
  app.addHook('onRequest', async (req) => {
    if (req.routeOptions.config?.auth === false) return;
    const principal = await principalOf(ctx, req);
    req.principal = principal;
    const now = Date.now();
    if ((touched.get(principal.tokenId) ?? 0) + TOUCH_EVERY_MS <= now) {
      if (touched.size > 10_000) touched.clear();
      touched.set(principal.tokenId, now);
      ctx.store.apiTokens.touch(principal.tokenId, now).catch((err: unknown) => {
        ctx.log.warn({ err, tokenId: principal.tokenId }, 'could not record when an API token was last used');
      });
    }
    const op = operationOf(req);
    // No route at all: the 404 follows (for a caller with a valid token only). A route that names
    // no operation was added around the route helper, so it is in no table: refused.
    if (op === undefined && req.routeOptions.url === undefined) return;
    checkAccess(principal, op ?? `${req.method} ${req.routeOptions.url}`, op === undefined ? undefined : accessOf(op));
  });
}
