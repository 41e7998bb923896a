/**
 * @module Small helpers the session modules share: a session or task by id for the API (a clear
 * NotFound), and announcing a changed session or task on the event bus.
 */
import { NotFound } from '../core/errors.js';
import type { OrgScope } from '../store/index.js';
import type { Session, Task } from '../store/records.js';
import type { ServerContext } from './context.js';

/** A session of the caller's org (another org's is not found, as one that does not exist). */
export async function getSession(ctx: ServerContext, org: OrgScope, id: string): Promise<Session> {
  const s = await ctx.store.sessions.getIn(org, id);
  if (!s) throw new NotFound('session', id, 'list sessions with `mctl sessions list`');
  return s;
}

/** A task of the caller's org (another org's is not found, as one that does not exist). */
export async function getTask(ctx: ServerContext, org: OrgScope, id: string): Promise<Task> {
  const t = await ctx.store.tasks.getIn(org, id);
  if (!t) throw new NotFound('task', id, 'list tasks with `mctl tasks list`');
  return t;
}

/** A session by id whatever its org (the system's own work, e.g. suspend and resume after the route's check). */
export async function sessionById(ctx: ServerContext, id: string): Promise<Session> {
  const s = await ctx.store.sessions.get(id);
  if (!s) throw new NotFound('session', id, 'list sessions with `mctl sessions list`');
  return s;
}

export function emitSession(ctx: ServerContext, session: Session): void {
  ctx.bus.emit('session:updated', { session });
}

export async function emitSessionById(ctx: ServerContext, id: string): Promise<void> {
  const s = await ctx.store.sessions.get(id);
  if (s) emitSession(ctx, s);
}

export function emitTask(ctx: ServerContext, task: Task): void {
  ctx.bus.emit('task:updated', { task });
}
