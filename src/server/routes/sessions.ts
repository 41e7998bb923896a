/**
 * @module The session routes: create (201, or 200 with the decision for a dry run), list
 * (filtered by state), get, cancel, explain, events, logs, suspend and resume. Every session they
 * answer carries `sandboxProvider` (see ./views.ts).
 */
import {
  CreateSessionBody,
  EventsQuery,
  ListSessionsQuery,
  LogsQuery,
  ResumeBody,
  SuspendBody,
} from '../../api/schemas.js';
import type { Api } from '../api.js';
import type { ServerContext } from '../context.js';
import { followLogs } from '../follow.js';
import type { SessionService } from '../sessions.js';
import type { SuspendService } from '../suspend.js';
import { sessionView, sessionViews, sessionWithTasks } from './views.js';

export function sessionRoutes(api: Api, ctx: ServerContext, sessions: SessionService, suspend: SuspendService): void {
  api.route(
    'POST',
    '/v1/sessions',
    {
      summary: 'Create a session (and its first task when a prompt is given); a dry run answers 200',
      tag: 'sessions',
      body: CreateSessionBody,
    },
    async ({ body, reply, org }) => {
      const r = await sessions.createSession(org, body);
      if ('dryRun' in r) {
        reply.code(200);
        return r;
      }
      return sessionWithTasks(sessions, r.session, r.tasks);
    },
  );
  api.route(
    'GET',
    '/v1/sessions',
    { summary: 'List sessions, newest first', tag: 'sessions', query: ListSessionsQuery },
    async ({ query, org }) => {
      const list = await ctx.store.sessions.list(org, {
        limit: query.limit,
        ...(query.state ? { states: query.state } : {}),
      });
      return { items: await sessionViews(sessions, list) };
    },
  );
  api.route(
    'GET',
    '/v1/sessions/:id',
    { summary: 'Get a session with its tasks', tag: 'sessions' },
    async ({ params, org }) => {
      const s = await sessions.getSession(org, params.id!);
      return sessionWithTasks(sessions, s, await ctx.store.tasks.listBySession(s.id));
    },
  );
  api.route(
    'POST',
    '/v1/sessions/:id/cancel',
    { summary: 'Cancel a session and its tasks', tag: 'sessions' },
    async ({ params, org }) => sessionView(sessions, await sessions.cancelSession(org, params.id!)),
  );
  api.route(
    'GET',
    '/v1/sessions/:id/explain',
    { summary: 'Why the session was placed where it was (or waits)', tag: 'sessions' },
    async ({ params, org }) => {
      const s = await sessions.getSession(org, params.id!);
      // `reason`: why it is in this state (waiting, suspended to make room, failed, ...).
      return { sessionId: s.id, state: s.state, reason: s.stateReason, decision: s.placement };
    },
  );
  api.route(
    'GET',
    '/v1/sessions/:id/events',
    { summary: 'Session events', tag: 'sessions', query: EventsQuery },
    async ({ params, query, org }) => {
      const s = await sessions.getSession(org, params.id!);
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
    async ({ params, query, reply, org }) => {
      const s = await sessions.getSession(org, params.id!);
      if (query.follow) return followLogs(ctx, reply, { sessionId: s.id }, query.after);
      const lines = await ctx.store.logs.page({ sessionId: s.id }, query.after, query.limit);
      return { items: lines, next: lines.length === query.limit ? lines[lines.length - 1]!.id : null };
    },
  );
  api.route(
    'POST',
    '/v1/sessions/:id/suspend',
    {
      summary: "Suspend a session (the pool's suspend_config, or `strategy`, decides how)",
      tag: 'sessions',
      body: SuspendBody,
    },
    async ({ params, body, org }) => {
      // Another org's session is not found; suspend itself is the system's (preemption uses it too).
      await sessions.getSession(org, params.id!);
      return sessionView(sessions, await suspend.suspend(params.id!, body?.strategy, true));
    },
  );
  api.route(
    'POST',
    '/v1/sessions/:id/resume',
    {
      summary: 'Resume a suspended session (`pool`/`provider`: elsewhere, through the workspace store)',
      tag: 'sessions',
      body: ResumeBody,
    },
    async ({ params, body, org }) => {
      await sessions.getSession(org, params.id!);
      return sessionView(sessions, await suspend.resume(params.id!, body ?? {}));
    },
  );
}
