/**
 * @module The task routes: queue a task in a session, list (filtered by state and session), get,
 * cancel, and logs (paged, or followed over SSE). Watching a task is in ../watch.ts.
 */
import { CreateTaskBody, ListTasksQuery, LogsQuery } from '../../api/schemas.js';
import type { Api } from '../api.js';
import type { ServerContext } from '../context.js';
import { followLogs } from '../follow.js';
import type { SessionService } from '../sessions.js';

export function taskRoutes(api: Api, ctx: ServerContext, sessions: SessionService): void {
  api.route(
    'POST',
    '/v1/sessions/:id/tasks',
    { summary: 'Queue a task in a session', tag: 'tasks', body: CreateTaskBody },
    async ({ params, body, org }) => sessions.createTask(org, params.id!, body),
  );
  api.route(
    'GET',
    '/v1/tasks',
    { summary: 'List tasks, newest first', tag: 'tasks', query: ListTasksQuery },
    async ({ query, org }) => ({
      items: await ctx.store.tasks.list(org, {
        limit: query.limit,
        ...(query.session ? { sessionId: query.session } : {}),
        ...(query.state ? { states: query.state } : {}),
      }),
    }),
  );
  api.route('GET', '/v1/tasks/:id', { summary: 'Get a task', tag: 'tasks' }, async ({ params, org }) =>
    sessions.getTask(org, params.id!),
  );
  api.route(
    'POST',
    '/v1/tasks/:id/cancel',
    { summary: 'Cancel a task (kills its process group)', tag: 'tasks' },
    async ({ params, org }) => sessions.cancelTask(org, params.id!),
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
    async ({ params, query, reply, org }) => {
      const t = await sessions.getTask(org, params.id!);
      if (query.follow) return followLogs(ctx, reply, { taskId: t.id }, query.after);
      const lines = await ctx.store.logs.page({ taskId: t.id }, query.after, query.limit);
      return { items: lines, next: lines.length === query.limit ? lines[lines.length - 1]!.id : null };
    },
  );
}
