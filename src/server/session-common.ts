/**
 * @module Small helpers the session modules share: a session or task by id for the API (a clear
 * NotFound), and announcing a changed session or task on the event bus.
 */
import { NotFound } from '../core/errors.js';
import type { Session, Task } from '../store/records.js';
import type { ServerContext } from './context.js';

export async function getSession(ctx: ServerContext, id: string): Promise<Session> {
  const s = await ctx.store.sessions.get(id, ctx.orgId);
  if (!s) throw new NotFound('session', id, 'list sessions with `mctl sessions list`');
  return s;
}

export async function getTask(ctx: ServerContext, id: string): Promise<Task> {
  const t = await ctx.store.tasks.get(id, ctx.orgId);
  if (!t) throw new NotFound('task', id, 'list tasks with `mctl tasks list`');
  return t;
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
