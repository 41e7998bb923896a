/**
 * @module A token limited to a project acts only in that project where a resource has one
 * (sessions, and tasks through their session). For such a token: an operation on a session or a
 * task of another project answers 404 (as if it did not exist, so nothing leaks), listings of
 * sessions and tasks keep only its project's, snapshots are listed for one of its sessions at a
 * time (`?session=ID`), and a new session must land in its project. Tokens
 * for the whole org pass untouched (no extra read). The role table (src/api/roles.ts) already
 * refuses such a token every operation on what the whole org shares.
 *
 * This sits at the door until the session repositories filter by project themselves (the tenancy
 * work scopes them by org); it then becomes a second wall.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Forbidden, InvalidRequest, NotFound } from '../core/errors.js';
import { orgScope } from '../store/scope.js';
import { operationOf } from './auth.js';
import type { ServerContext } from './context.js';

const ON_SESSION = new Set([
  'getSession',
  'cancelSession',
  'explainSession',
  'listSessionEvents',
  'getSessionLogs',
  'suspendSession',
  'resumeSession',
  'createTask',
  'snapshotSession',
  'forkSession',
  'getSessionWorkspace',
]);
const ON_TASK = new Set(['getTask', 'cancelTask', 'getTaskLogs', 'watchTask']);

/** The project of the session `id` (in the caller's org), or null when there is no such session. */
async function sessionProject(ctx: ServerContext, orgId: string, id: string): Promise<string | null> {
  return (await ctx.store.sessions.getIn(orgScope(orgId), id))?.projectId ?? null;
}

/** The session ids among `ids` that are in `projectId`. */
async function inProject(ctx: ServerContext, projectId: string, ids: string[]): Promise<Set<string>> {
  if (!ids.length) return new Set();
  const rows = await ctx.store.db
    .selectFrom('sessions')
    .select('id')
    .where('id', 'in', ids)
    .where('project_id', '=', projectId)
    .execute();
  return new Set(rows.map((r) => r.id));
}

export function installProjectScope(app: FastifyInstance, ctx: ServerContext): void {
  app.addHook('preHandler', async (req: FastifyRequest) => {
    const p = req.principal;
    if (!p?.projectId) return;
    const op = operationOf(req);
    const id = (req.params as Record<string, string> | undefined)?.id;
    if (op === 'createSession') {
      // A new session lands in the token's project: named or not, never another one.
      if (typeof req.body !== 'object' || req.body === null) return; // the handler answers 400
      const body = req.body as { project?: unknown };
      if (body.project === undefined) {
        body.project = p.projectId;
        return;
      }
      const named =
        typeof body.project === 'string' ? await ctx.store.orgs.getProject(orgScope(p.orgId), body.project) : null;
      if (named?.id !== p.projectId)
        throw new Forbidden(
          `this token is limited to project ${p.projectId}; it cannot create sessions in project ${JSON.stringify(body.project)}`,
        );
      return;
    }
    if (op === 'listSnapshots') {
      // Snapshots of one of its sessions: the session is named and checked like any other.
      const session = (req.query as Record<string, unknown> | undefined)?.session;
      if (typeof session !== 'string' || session === '')
        throw new InvalidRequest(
          `this token is limited to project ${p.projectId}: list the snapshots of one of its sessions (?session=ID)`,
        );
      const project = await sessionProject(ctx, p.orgId, session);
      if (project !== null && project !== p.projectId) throw new NotFound('session', session);
      return;
    }
    if (!id) return;
    if (op && ON_SESSION.has(op)) {
      const project = await sessionProject(ctx, p.orgId, id);
      if (project !== null && project !== p.projectId) throw new NotFound('session', id);
    } else if (op && ON_TASK.has(op)) {
      const task = await ctx.store.tasks.getIn(orgScope(p.orgId), id);
      const project = task ? await sessionProject(ctx, p.orgId, task.sessionId) : null;
      if (project !== null && project !== p.projectId) throw new NotFound('task', id);
    }
  });

  // Listings: keep the items of the token's project (sessions by id, tasks by their session).
  app.addHook('onSend', async (req, reply, payload) => {
    const p = req.principal;
    const op = operationOf(req);
    if (!p?.projectId || (op !== 'listSessions' && op !== 'listTasks') || reply.statusCode !== 200) return payload;
    if (typeof payload !== 'string') return payload;
    const body = JSON.parse(payload) as { items: { id: string; sessionId?: string }[] };
    const key = (i: { id: string; sessionId?: string }) => (op === 'listSessions' ? i.id : (i.sessionId ?? ''));
    const keep = await inProject(ctx, p.projectId, [...new Set(body.items.map(key))]);
    return JSON.stringify({ ...body, items: body.items.filter((i) => keep.has(key(i))) });
  });
}
