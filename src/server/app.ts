/**
 * @module The REST API under `/v1`: bearer-token auth, RFC 9457 problems for every error, and
 * the routes for sessions, tasks, logs, runners, pools, agents and providers.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { z } from 'zod';
import { NotFound, Unauthorized } from '../core/errors.js';
import { hashSecret } from '../core/ids.js';
import { VERSION } from '../paths.js';
import type { ApiPrincipal } from '../store/repos/auth.js';
import { Api } from './api.js';
import type { ServerContext } from './context.js';
import { followLogs } from './follow.js';
import { installProblemHandlers, problemServerOptions } from './http-problems.js';
import { CreateSessionBody, CreateTaskBody } from './session-requests.js';
import type { SessionService } from './sessions.js';
import { healthReport, type StorageHealth, storageReason, storageRefusal } from './storage-health.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: ApiPrincipal;
  }
  interface FastifyContextConfig {
    auth?: boolean;
  }
}

export interface AppServices {
  sessions: SessionService;
  /** Whether the store and server.log can write (GET /v1/healthz; writes get 507 while the store cannot). */
  storage?: StorageHealth;
  /** Extra routes (pools, profiles, tokens, suspend...) registered by later modules. */
  extend?: (api: Api) => void;
}

const ListQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(50),
  state: z.string().optional(),
});
const LogsQuery = z.strictObject({
  after: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(10_000).default(1000),
  follow: z
    .enum(['1', 'true', '0', 'false'])
    .optional()
    .transform((v) => v === '1' || v === 'true'),
});
const TaskListQuery = ListQuery.extend({ session: z.string().optional() });

export function buildApp(ctx: ServerContext, services: AppServices): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: ctx.config.maxPromptBytes + 64 * 1024,
    ...problemServerOptions(),
  });
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

  const api = new Api(app);
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

  // ---- sessions
  api.route(
    'POST',
    '/v1/sessions',
    {
      summary: 'Create a session (and its first task when a prompt is given)',
      tag: 'sessions',
      body: CreateSessionBody,
      status: 201,
    },
    async ({ body, reply }) => {
      const r = await sessions.createSession(body);
      if ('dryRun' in r) {
        reply.code(200);
        return r;
      }
      reply.code(201);
      return { ...r.session, tasks: r.tasks };
    },
  );
  api.route(
    'GET',
    '/v1/sessions',
    { summary: 'List sessions, newest first', tag: 'sessions', query: ListQuery },
    async ({ query }) => {
      const states = query.state ? (query.state.split(',') as never[]) : undefined;
      return { items: await ctx.store.sessions.list(ctx.orgId, { limit: query.limit, ...(states ? { states } : {}) }) };
    },
  );
  api.route(
    'GET',
    '/v1/sessions/:id',
    { summary: 'Get a session with its tasks', tag: 'sessions' },
    async ({ params }) => {
      const s = await sessions.getSession(params.id!);
      return { ...s, tasks: await ctx.store.tasks.listBySession(s.id) };
    },
  );
  api.route(
    'POST',
    '/v1/sessions/:id/cancel',
    { summary: 'Cancel a session and its tasks', tag: 'sessions' },
    async ({ params }) => sessions.cancelSession(params.id!),
  );
  api.route(
    'GET',
    '/v1/sessions/:id/explain',
    { summary: 'Why the session was placed where it was (or waits)', tag: 'sessions' },
    async ({ params }) => {
      const s = await sessions.getSession(params.id!);
      // `reason`: why it is in this state (waiting, suspended to make room, failed, ...).
      return { sessionId: s.id, state: s.state, reason: s.stateReason, decision: s.placement };
    },
  );
  api.route(
    'GET',
    '/v1/sessions/:id/events',
    {
      summary: 'Session events',
      tag: 'sessions',
      query: z.strictObject({ after: z.coerce.number().int().min(0).default(0) }),
    },
    async ({ params, query }) => {
      const s = await sessions.getSession(params.id!);
      return { items: await ctx.store.sessions.events(s.id, query.after) };
    },
  );
  api.route(
    'GET',
    '/v1/sessions/:id/logs',
    {
      summary: 'Log lines of all tasks of a session (paged, or followed over SSE with follow=1)',
      tag: 'logs',
      query: LogsQuery,
      streams: true,
    },
    async ({ params, query, reply }) => {
      const s = await sessions.getSession(params.id!);
      if (query.follow) return followLogs(ctx, reply, { sessionId: s.id }, query.after);
      const lines = await ctx.store.logs.page({ sessionId: s.id }, query.after, query.limit);
      return { items: lines, next: lines.length === query.limit ? lines[lines.length - 1]!.id : null };
    },
  );

  // ---- tasks
  api.route(
    'POST',
    '/v1/sessions/:id/tasks',
    { summary: 'Queue a task in a session', tag: 'tasks', body: CreateTaskBody, status: 201 },
    async ({ params, body }) => sessions.createTask(params.id!, body),
  );
  api.route(
    'GET',
    '/v1/tasks',
    { summary: 'List tasks, newest first', tag: 'tasks', query: TaskListQuery },
    async ({ query }) => {
      const states = query.state ? (query.state.split(',') as never[]) : undefined;
      return {
        items: await ctx.store.tasks.list(ctx.orgId, {
          limit: query.limit,
          ...(query.session ? { sessionId: query.session } : {}),
          ...(states ? { states } : {}),
        }),
      };
    },
  );
  api.route('GET', '/v1/tasks/:id', { summary: 'Get a task', tag: 'tasks' }, async ({ params }) =>
    sessions.getTask(params.id!),
  );
  api.route(
    'POST',
    '/v1/tasks/:id/cancel',
    { summary: 'Cancel a task (kills its process group)', tag: 'tasks' },
    async ({ params }) => sessions.cancelTask(params.id!),
  );
  api.route(
    'GET',
    '/v1/tasks/:id/logs',
    {
      summary: 'Log lines of a task (paged, or followed over SSE with follow=1)',
      tag: 'logs',
      query: LogsQuery,
      streams: true,
    },
    async ({ params, query, reply }) => {
      const t = await sessions.getTask(params.id!);
      if (query.follow) return followLogs(ctx, reply, { taskId: t.id }, query.after);
      const lines = await ctx.store.logs.page({ taskId: t.id }, query.after, query.limit);
      return { items: lines, next: lines.length === query.limit ? lines[lines.length - 1]!.id : null };
    },
  );

  // ---- runners
  api.route(
    'GET',
    '/v1/runners',
    {
      summary: 'List runners',
      tag: 'runners',
      query: ListQuery.extend({ pool: z.string().optional(), all: z.enum(['1', 'true']).optional() }),
    },
    async ({ query }) => {
      const pool = query.pool ? await ctx.store.pools.get(query.pool, ctx.orgId) : null;
      if (query.pool && !pool) throw new NotFound('pool', query.pool);
      const states = query.state ? (query.state.split(',') as never[]) : undefined;
      let items = await ctx.store.runners.list({
        orgId: ctx.orgId,
        ...(pool ? { poolId: pool.id } : {}),
        ...(states ? { states } : {}),
      });
      if (!query.all && !states) items = items.filter((r) => r.state !== 'terminated');
      return { items: items.slice(-query.limit) };
    },
  );
  api.route('GET', '/v1/runners/:id', { summary: 'Get a runner', tag: 'runners' }, async ({ params }) => {
    const r = await ctx.store.runners.get(params.id!, ctx.orgId);
    if (!r) throw new NotFound('runner', params.id!, 'list runners with `mctl runners list`');
    return r;
  });

  // ---- agents
  api.route('GET', '/v1/agents', { summary: 'List agent cards', tag: 'agents' }, async () => ({
    items: await sessions.agentCards(),
  }));
  api.route('GET', '/v1/agents/:name', { summary: 'Get an agent card', tag: 'agents' }, async ({ params }) => {
    const card = (await sessions.agentCards()).find((c) => c.name === params.name);
    if (!card) throw new NotFound('agent', params.name!, 'list agents with `mctl agents list`');
    return card;
  });

  services.extend?.(api);

  api.route('GET', '/v1/openapi.json', { summary: 'This document', tag: 'meta', auth: false }, async () =>
    api.openapi(VERSION),
  );
  return app;
}
