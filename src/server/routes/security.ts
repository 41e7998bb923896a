/**
 * @module The security routes: the caller's own identity (`GET /v1/whoami`), API tokens
 * (`/v1/tokens`: create with a role, an org, an optional project and expiry, list without secrets,
 * revoke, rotate) and the audit log (`GET /v1/audit`, filtered). Who may call each is in the role
 * table (src/api/roles.ts); a token limited to a project sees and manages only its project's tokens.
 */

import { type Role, roleAllows } from '../../api/roles.js';
import { CreateApiTokenBody, ListAuditQuery, RotateApiTokenBody } from '../../api/security.js';
import { parseDuration } from '../../core/duration.js';
import { Conflict, Forbidden, InvalidRequest, NotFound } from '../../core/errors.js';
import type { ApiPrincipal, ApiToken } from '../../store/repos/api-tokens.js';
import type { Api } from '../api.js';
import type { ServerContext } from '../context.js';
import { boundedDuration } from '../input-guards.js';

export function tokenStatusOf(t: ApiToken, now = Date.now()): 'active' | 'revoked' | 'expired' {
  if (t.revokedAt !== null) return 'revoked';
  if (t.expiresAt !== null && t.expiresAt <= now) return 'expired';
  return 'active';
}

const view = (t: ApiToken) => ({ ...t, status: tokenStatusOf(t) });

function caller(p: ApiPrincipal | undefined): ApiPrincipal {
  if (!p) throw new Error('route reached without a principal');
  return p;
}

/** A positive duration from now as an instant, or null when not given. */
function expiryOf(v: string | number | undefined, now: number): number | null {
  if (v === undefined) return null;
  const ms = boundedDuration(v, 'expiresIn');
  if (ms <= 0) throw new InvalidRequest(`expiresIn: ${JSON.stringify(v)} must be longer than zero`);
  return now + ms;
}

/** An instant: ISO 8601, milliseconds since the epoch, or a duration back from now (`1h`). */
function instantOf(v: string | undefined, field: string, now: number): number | undefined {
  if (v === undefined) return undefined;
  if (/^\d{10,}$/.test(v)) return Number(v);
  if (/^\d{4}-\d\d-\d\d/.test(v)) {
    const t = Date.parse(v);
    if (!Number.isNaN(t)) return t;
  }
  const back = /^\d/.test(v) ? parseDuration(v) : null;
  if (back !== null) return now - back;
  throw new InvalidRequest(
    `${field}: ${JSON.stringify(v)} is not an instant (ISO 8601 like 2026-01-31T12:00:00Z, ms since the epoch, or a duration back from now like 1h, 7d)`,
  );
}

/** The org a new token is for: the caller's own, or (for the install's admins) any org by id or name. */
async function orgFor(ctx: ServerContext, p: ApiPrincipal, org: string | undefined): Promise<string> {
  if (org === undefined || org === p.orgId) return p.orgId;
  const row = await ctx.store.db
    .selectFrom('orgs')
    .select('id')
    .where((eb) => eb.or([eb('id', '=', org), eb('name', '=', org)]))
    .executeTakeFirst();
  if (row?.id === p.orgId) return p.orgId;
  if (!row || !isInstallAdmin(ctx, p)) throw new NotFound('org', org, 'list orgs with `mctl orgs list`');
  return row.id;
}

/**
 * An admin of the install's own (default) org, for the whole of it: it mints tokens for other
 * orgs, and sees the audit events that belong to no org (refused unknown credentials).
 */
function isInstallAdmin(ctx: ServerContext, p: ApiPrincipal): boolean {
  return p.role === 'admin' && p.projectId === null && p.orgId === ctx.defaultOrg.orgId;
}

async function projectFor(
  ctx: ServerContext,
  p: ApiPrincipal,
  orgId: string,
  project: string | undefined,
): Promise<string | null> {
  if (project === undefined) return p.projectId;
  const row = await ctx.store.db
    .selectFrom('projects')
    .select('id')
    .where('org_id', '=', orgId)
    .where((eb) => eb.or([eb('id', '=', project), eb('name', '=', project)]))
    .executeTakeFirst();
  if (!row) throw new NotFound('project', project, 'list projects with `mctl projects list`');
  if (p.projectId !== null && row.id !== p.projectId)
    throw new Forbidden(`this token is limited to project ${p.projectId}; it cannot create tokens for ${project}`);
  return row.id;
}

/** A token the caller may manage (its org, and its project when the caller is limited to one); 404 otherwise. */
async function manageable(ctx: ServerContext, p: ApiPrincipal, id: string): Promise<ApiToken> {
  const t = await ctx.store.apiTokens.get(p.orgId, id);
  if (!t || (p.projectId !== null && t.projectId !== p.projectId))
    throw new NotFound('API token', id, 'list tokens with `mctl tokens list`');
  return t;
}

export function securityRoutes(api: Api, ctx: ServerContext): void {
  api.route(
    'GET',
    '/v1/whoami',
    { summary: "The caller's token, role, org and project", tag: 'security' },
    async ({ req }) => {
      const p = caller(req.principal);
      return { tokenId: p.tokenId, name: p.name, role: p.role, orgId: p.orgId, projectId: p.projectId };
    },
  );

  api.route(
    'POST',
    '/v1/tokens',
    { summary: 'Create an API token (the secret is in this answer only)', tag: 'security', body: CreateApiTokenBody },
    async ({ req, body }) => {
      const p = caller(req.principal);
      if (!roleAllows(p.role, body.role as Role))
        throw new Forbidden(`a ${p.role} token cannot create a token with the higher role ${body.role}`);
      const now = Date.now();
      const expiresAt = expiryOf(body.expiresIn, now);
      const orgId = await orgFor(ctx, p, body.org);
      const projectId = await projectFor(ctx, p, orgId, body.project);
      const t = await ctx.store.apiTokens.create({
        orgId,
        projectId,
        name: body.name ?? 'token',
        role: body.role,
        expiresAt,
        now,
      });
      return view(t);
    },
  );

  api.route(
    'GET',
    '/v1/tokens',
    { summary: 'List API tokens (never their secrets)', tag: 'security' },
    async ({ req }) => {
      const p = caller(req.principal);
      return { items: (await ctx.store.apiTokens.list(p.orgId, p.projectId)).map(view) };
    },
  );

  api.route(
    'DELETE',
    '/v1/tokens/:id',
    { summary: 'Revoke an API token (refused from the next request on)', tag: 'security' },
    async ({ req, params }) => {
      const p = caller(req.principal);
      const t = await manageable(ctx, p, params.id!);
      if (t.revokedAt !== null || !(await ctx.store.apiTokens.revoke(p.orgId, t.id)))
        throw new Conflict(
          `API token ${t.id} is already revoked (at ${new Date(t.revokedAt ?? Date.now()).toISOString()})`,
        );
      return view((await ctx.store.apiTokens.get(p.orgId, t.id)) ?? t);
    },
  );

  api.route(
    'POST',
    '/v1/tokens/:id/rotate',
    {
      summary: 'Give an API token a new secret (the old one stops working at once)',
      tag: 'security',
      body: RotateApiTokenBody,
    },
    async ({ req, params, body }) => {
      const p = caller(req.principal);
      const t = await manageable(ctx, p, params.id!);
      if (t.revokedAt !== null) throw new Conflict(`API token ${t.id} is revoked; create a new one instead`);
      const now = Date.now();
      const expiresAt = body?.expiresIn === undefined ? undefined : expiryOf(body.expiresIn, now);
      if (expiresAt === undefined && tokenStatusOf(t, now) === 'expired')
        throw new Conflict(`API token ${t.id} has expired; rotate it with a new expiry (expiresIn)`);
      const r = await ctx.store.apiTokens.rotate(p.orgId, t.id, expiresAt);
      if (!r) throw new Conflict(`API token ${t.id} was revoked meanwhile`);
      return view(r);
    },
  );

  api.route(
    'GET',
    '/v1/audit',
    { summary: 'The audit log, newest first, filtered', tag: 'security', query: ListAuditQuery },
    async ({ req, query }) => {
      const p = caller(req.principal);
      const now = Date.now();
      const since = instantOf(query.since, 'since', now);
      const until = instantOf(query.until, 'until', now);
      const items = await ctx.store.audit.list({
        orgId: p.orgId,
        withUnowned: isInstallAdmin(ctx, p),
        ...(query.actor ? { actor: query.actor } : {}),
        ...(query.action ? { action: query.action } : {}),
        ...(query.resource ? { resource: query.resource } : {}),
        ...(query.outcome ? { outcome: query.outcome } : {}),
        ...(since !== undefined ? { since } : {}),
        ...(until !== undefined ? { until } : {}),
        limit: query.limit ?? 100,
      });
      return { items };
    },
  );
}
