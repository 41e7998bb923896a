/**
 * @module `POST /v1/sessions/:id/exec` asked for `text/event-stream` (`mctl sessions exec`): the
 * command's output as it comes, as Server-Sent Events: `stdout` and `stderr` events (data: the
 * chunk as a JSON string), then one `end` event `{exitCode, error}` and the stream closes. Checks
 * that refuse the op (no such session, no runner, a nested sandbox) come before the stream starts,
 * as an ordinary problem+json reply; a `: ping` comment every 15 s keeps proxies from closing a
 * quiet stream. Output is passed on, never held: the runner sends no more than its window ahead
 * of what the client's socket took (./client-flush.ts), and a client that disconnects stops the
 * command (its process group is killed on the runner).
 */
import type { FastifyReply } from 'fastify';
import type { OrgScope } from '../store/index.js';
import { abortOnClose, written } from './client-flush.js';
import type { OpRequest, SessionOps } from './session-ops.js';

const PING_MS = 15_000;

/** Whether the request asked for the streamed form. */
export function wantsStream(accept: string | undefined): boolean {
  return !!accept && /\btext\/event-stream\b/.test(accept);
}

export async function streamExec(
  ops: SessionOps,
  org: OrgScope,
  sessionId: string,
  req: OpRequest,
  reply: FastifyReply,
): Promise<void> {
  let raw: FastifyReply['raw'] | null = null;
  let ping: NodeJS.Timeout | null = null;
  // Started with the first frame, so a refusal before any is still a problem+json reply.
  const begin = () => {
    if (raw) return raw;
    reply.hijack();
    raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    ping = setInterval(() => raw?.write(': ping\n\n'), PING_MS);
    return raw;
  };
  try {
    // The runner is asked only after these checks; the stream starts as soon as it is.
    // Backpressure: a chunk's credit goes back to the runner once the client's socket took it; a
    // client that goes away (or is interrupted) stops the command on the runner.
    const done = ops.run(org, sessionId, req, {
      onOutput: (stream, data) => written(begin(), `event: ${stream}\ndata: ${JSON.stringify(data)}\n\n`),
      signal: abortOnClose(reply.raw),
    });
    const r = await done;
    const out = begin();
    out.write(`event: end\ndata: ${JSON.stringify({ exitCode: r.exitCode, error: r.error })}\n\n`);
    out.end();
  } finally {
    if (ping) clearInterval(ping);
  }
}
