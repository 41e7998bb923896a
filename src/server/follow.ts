/**
 * @module Live log following over Server-Sent Events: replay from the store after a cursor, then
 * stream new lines from the event bus without gaps or repeats (a task's lines in seq order, a
 * session's task by task; the bus carries lines once they are contiguous, and a line is written only
 * when its seq is past the last one written for its task), and end when the task (or session) has
 * nothing more to run. The replay goes at the subscriber's pace (it waits for the socket to drain,
 * and stops when the subscriber leaves), so a long stored log never piles up in the server's memory;
 * bus lines are held only while one page is read. A live subscriber that cannot keep up is
 * disconnected; it never slows the runner down.
 */
import type { FastifyReply } from 'fastify';
import { isTerminalSession, isTerminalTask } from '../core/states.js';
import type { LogLine } from '../store/records.js';
import type { ServerContext } from './context.js';

const MAX_BUFFERED = 8 * 1024 * 1024;
/** While replaying stored lines, wait for the socket to drain past this much unsent output. */
const REPLAY_HIGH_WATER = 1024 * 1024;

export interface FollowTarget {
  taskId?: string;
  sessionId?: string;
}

/** Whether the target has finished producing output. */
async function finished(ctx: ServerContext, t: FollowTarget): Promise<string | null> {
  if (t.taskId) {
    const task = await ctx.store.tasks.get(t.taskId);
    return !task || isTerminalTask(task.state) ? (task?.state ?? 'gone') : null;
  }
  const s = await ctx.store.sessions.get(t.sessionId!);
  if (!s) return 'gone';
  if (isTerminalSession(s.state)) return s.state;
  if (s.state === 'idle' || s.state === 'suspended') {
    const open = await ctx.store.tasks.openInSession(s.id);
    if (open.length === 0) return s.state;
  }
  return null;
}

export async function followLogs(
  ctx: ServerContext,
  reply: FastifyReply,
  target: FollowTarget,
  after: number,
): Promise<void> {
  // The first page before hijacking: a bad cursor is still an ordinary problem+json reply.
  const first = await ctx.store.logs.page(target, after, 1000);
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  let lastId = after;
  let closed = false;
  let live = false;
  const pending: LogLine[] = [];
  const lastSeq = new Map<string, number>();
  /** Writes the lines not written yet, as one chunk (a batch is up to 1,000 lines). */
  const write = (lines: readonly LogLine[]) => {
    let out = '';
    for (const line of lines) {
      if (line.seq <= (lastSeq.get(line.taskId) ?? 0)) continue;
      lastSeq.set(line.taskId, line.seq);
      lastId = line.id;
      out += `id: ${line.id}\nevent: line\ndata: ${JSON.stringify(line)}\n\n`;
    }
    if (out) raw.write(out);
  };
  /** Resolves once the unsent output is under the high-water mark, or the subscriber has gone. */
  const drained = () =>
    closed || raw.writableLength <= REPLAY_HIGH_WATER
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          const done = () => {
            raw.off('drain', done);
            raw.off('close', done);
            resolve();
          };
          raw.on('drain', done);
          raw.on('close', done);
        });
  /**
   * Writes the stored lines after the last one written, page by page at the subscriber's pace.
   * Lines the bus carries meanwhile are held only while one page is read: every line is stored
   * before it is emitted, so the next page has whatever an earlier read missed.
   */
  const replay = async (firstPage?: LogLine[]) => {
    let page = firstPage;
    for (;;) {
      if (page === undefined) {
        pending.length = 0;
        page = await ctx.store.logs.page(target, lastId, 1000);
      }
      if (closed) return;
      write(page);
      if (page.length < 1000) return;
      page = undefined;
      await drained();
    }
  };
  const matches = (p: { taskId: string; sessionId: string }) =>
    target.taskId ? p.taskId === target.taskId : p.sessionId === target.sessionId;
  let checking = false;
  const end = async () => {
    if (closed || checking) return;
    checking = true;
    try {
      const state = await finished(ctx, target);
      if (state === null || closed) return;
      // Drain what landed in the store after our last line, then end.
      await replay();
      if (closed) return;
      raw.write(`event: end\ndata: ${JSON.stringify({ state })}\n\n`);
      stop();
      raw.end();
    } finally {
      checking = false;
    }
  };
  const offLogs = ctx.bus.on('task:logs', (p) => {
    if (closed || !matches(p)) return;
    if (raw.writableLength > MAX_BUFFERED) {
      raw.write(
        `event: error\ndata: ${JSON.stringify({ detail: `subscriber too slow; reconnect with ?after=${lastId}` })}\n\n`,
      );
      stop();
      raw.end();
      return;
    }
    if (!live) pending.push(...p.lines);
    else write(p.lines);
  });
  const offTask = ctx.bus.on('task:updated', (p) => {
    if (target.taskId ? p.task.id === target.taskId : p.task.sessionId === target.sessionId) void end();
  });
  const offSession = ctx.bus.on('session:updated', (p) => {
    if (target.sessionId && p.session.id === target.sessionId) void end();
  });
  const ping = setInterval(() => raw.write(': ping\n\n'), 15_000);
  const stop = () => {
    closed = true;
    offLogs();
    offTask();
    offSession();
    clearInterval(ping);
  };
  raw.on('close', stop);
  await replay(first);
  if (closed) return;
  live = true;
  write(pending);
  pending.length = 0;
  await end();
}
