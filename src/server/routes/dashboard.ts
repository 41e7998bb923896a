/**
 * @module The dashboard: its static files (the Vite build in `dist/web/`, web/ in the sources)
 * served at `/` without a token (the page signs in itself, with an API token or a one-time login
 * link), and the login-link routes: `POST /v1/dashboard/links` makes a one-time link for the caller
 * (`mctl dashboard`), `POST /v1/dashboard/login` exchanges its code for an API token.
 */
import { existsSync, readFileSync } from 'node:fs';
import { extname, join, normalize, sep } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { PACKAGE_ROOT } from '../../paths.js';
import type { Api } from '../api.js';
import type { ServerContext } from '../context.js';
import { LoginLinks, SESSION_TTL_MS } from '../login-links.js';

/** Where the built dashboard is (`npm run build` writes it). */
export const DASHBOARD_DIR = join(PACKAGE_ROOT, 'dist', 'web');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
};

/** Security headers for the dashboard's pages: nothing from elsewhere, never framed. */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** Serves the built dashboard at `/` and `/assets/*` (no token: the files hold no data). */
export function dashboardStatic(app: FastifyInstance, dir = DASHBOARD_DIR): void {
  const file = (rel: string): { body: Buffer; type: string } | null => {
    const path = normalize(join(dir, rel));
    if (!path.startsWith(dir + sep) || !existsSync(path)) return null;
    return { body: readFileSync(path), type: TYPES[extname(path)] ?? 'application/octet-stream' };
  };
  app.route({
    method: 'GET',
    url: '/',
    config: { auth: false },
    handler: async (_req, reply) => {
      const index = file('index.html');
      if (!index)
        return reply
          .code(503)
          .type('text/plain; charset=utf-8')
          .send('the dashboard is not built: run `npm run build` (it writes dist/web/)\n');
      return reply.headers(PAGE_HEADERS).header('cache-control', 'no-cache').type(index.type).send(index.body);
    },
  });
  app.route({
    method: 'GET',
    url: '/assets/*',
    config: { auth: false },
    handler: async (req, reply) => {
      const rel = (req.params as { '*': string })['*'];
      const f = /^[A-Za-z0-9._-]+$/.test(rel) ? file(join('assets', rel)) : null;
      if (!f) return reply.code(404).type('text/plain; charset=utf-8').send('no such dashboard file\n');
      // Vite names assets by content hash: cache them for good.
      return reply.header('cache-control', 'public, max-age=31536000, immutable').type(f.type).send(f.body);
    },
  });
}

const LoginBody = z.strictObject({ code: z.string().min(1).max(200) });

export function dashboardRoutes(api: Api, ctx: ServerContext, links = new LoginLinks()): void {
  api.route(
    'POST',
    '/v1/dashboard/links',
    { summary: 'A one-time dashboard login link for the caller (mctl dashboard)', tag: 'dashboard' },
    async ({ req }) => {
      const { code, expiresAt } = links.create(req.principal!);
      return { code, path: `/#login=${code}`, expiresAt };
    },
  );
  api.route(
    'POST',
    '/v1/dashboard/login',
    {
      summary: "Exchanges a login link's code (once) for an API token with the link maker's role",
      tag: 'dashboard',
      body: LoginBody,
      auth: false,
    },
    async ({ body }) => {
      const who = links.take(body.code);
      const expiresAt = Date.now() + SESSION_TTL_MS;
      const t = await ctx.store.apiTokens.create({
        orgId: who.orgId,
        projectId: who.projectId,
        role: who.role,
        name: `dashboard (${who.name})`.slice(0, 100),
        expiresAt,
      });
      ctx.log.info({ tokenId: t.id, orgId: who.orgId }, 'dashboard login link used');
      return { token: t.token, tokenId: t.id, role: who.role, expiresAt };
    },
  );
}
