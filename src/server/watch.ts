/**
 * @module Watching a task over Server-Sent Events: its state and its session's state and reason
 * (why it waits: the placement summary `mctl sessions explain` shows), pushed as they change, so
 * `mctl ... --wait` can say why it waits without polling. `GET /v1/tasks/:id/watch`.
 *
 * Events: `status` `{task, session}` at once and on every change; `end` `{task, session}` when the
 * task has finished, and the stream closes. Changes come from the event bus; the store is also read
 * again every {@link RECHECK_MS} (a change written by another server replica, or without an event,
 * is seen that late at worst). A `: ping` comment every 15 s keeps proxies from closing it.
 */
import type { FastifyReply } from 'fastify';
import { isTerminalTask } from '../core/states.js';
import type { Session, Task } from '../store/records.js';
import type { Api } from './api.js';
import type { ServerContext } from './context.js';
import type { SessionService } from './sessions.js';

const RECHECK_MS = 5_000;
const PING_MS = 15_000;

/** What a watcher is told: the fields of the task and the session that say where it stands. */
export interface WatchStatus {
  task: Pick<Task, 'id' | 'state' | 'exitCode' | 'error' | 'sessionId'>;
  session: Pick<Session, 'id' | 'state' | 'stateReason' | 'poolId' | 'runnerId'> | null;
}

function view(task: Task, session: Session | null): WatchStatus {
  return {
    task: { id: task.id, state: task.state, exitCode: task.exitCode, error: task.error, sessionId: task.sessionId },
    session: session
      ? {
          id: session.id,
          state: session.state,
          stateReason: session.stateReason,
          poolId: session.poolId,
          runnerId: session.runnerId,
        }
      : null,
  };
}

async function watchTask(ctx: ServerContext, reply: FastifyReply, first: Task): Promise<void> {
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  let task = first;
  let session: Session | null = null;
  let last = '';
  let closed = false;
  const send = () => {
    if (closed) return;
    const status = view(task, session);
    const text = JSON.stringify(status);
    const done = isTerminalTask(task.state);
    if (text !== last) {
      last = text;
      raw.write(`event: status\ndata: ${text}\n\n`);
    }
    if (done) {
      raw.write(`event: end\ndata: ${text}\n\n`);
      stop();
      raw.end();
    }
  };
  const reread = async () => {
    const [t, s] = await Promise.all([ctx.store.tasks.get(task.id), ctx.store.sessions.get(task.sessionId)]);
    if (t) task = t;
    session = s;
    send();
  };
  // Subscribed before the first read, so no change falls between the two.
  const offTask = ctx.bus.on('task:updated', (p) => {
    if (p.task.id !== task.id) return;
    task = p.task;
    send();
  });
  const offSession = ctx.bus.on('session:updated', (p) => {
    if (p.session.id !== task.sessionId) return;
    session = p.session;
    send();
  });
  const recheck = setInterval(() => {
    reread().catch((e: unknown) => ctx.log.warn({ err: e, taskId: task.id }, 'watch: re-reading the task failed'));
  }, RECHECK_MS);
  const ping = setInterval(() => raw.write(': ping\n\n'), PING_MS);
  const stop = () => {
    closed = true;
    offTask();
    offSession();
    clearInterval(recheck);
    clearInterval(ping);
  };
  raw.on('close', stop);
  await reread();
}

export function watchRoutes(ctx: ServerContext, api: Api, sessions: SessionService): void {
  api.route(
    'GET',
    '/v1/tasks/:id/watch',
    {
      summary: "Follow a task's state and its session's state and waiting reason over SSE (status events, then end)",
      tag: 'tasks',
      streams: true,
    },
    async ({ params, reply, org }) => watchTask(ctx, reply, await sessions.getTask(org, params.id!)),
  );
}
