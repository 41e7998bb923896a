/**
 * @module The org's live changes over Server-Sent Events (`GET /v1/events`), for the dashboard:
 * `session`, `task` and `runner` events carrying the fields a list shows, as the event bus says
 * them, only those of the caller's org. Nothing is replayed: a client reads the lists first and
 * patches them from the stream (after a reconnect it reads them again). A `: ping` comment every
 * 15 s keeps proxies from closing it; a client that cannot keep up is disconnected (never buffered
 * without bound). Needs a token for the whole org.
 */
import { InvalidRequest } from '../../core/errors.js';
import type { Api } from '../api.js';
import type { ServerContext } from '../context.js';

const PING_MS = 15_000;
const MAX_BUFFERED = 4 * 1024 * 1024;

export function eventStreamRoutes(api: Api, ctx: ServerContext): void {
  api.route(
    'GET',
    '/v1/events',
    { summary: "The org's session, task and runner changes over SSE (for the dashboard)", tag: 'meta', streams: true },
    async ({ req, reply, org }) => {
      // Asked for as a stream only: a plain GET (a link followed, a script listing routes) is told how.
      if (!/text\/event-stream/.test(req.headers.accept ?? ''))
        throw new InvalidRequest('GET /v1/events is a Server-Sent Events stream: send Accept: text/event-stream');
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      raw.write(': connected\n\n');
      const offs: (() => void)[] = [];
      const stop = () => {
        for (const off of offs.splice(0)) off();
        clearInterval(ping);
      };
      const send = (event: string, data: unknown) => {
        if (raw.writableLength > MAX_BUFFERED) {
          stop();
          raw.end();
          return;
        }
        raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      };
      offs.push(
        ctx.bus.on('session:updated', ({ session: s }) => {
          if (s.orgId !== org.orgId) return;
          send('session', {
            id: s.id,
            agent: s.agent,
            state: s.state,
            stateReason: s.stateReason,
            poolId: s.poolId,
            runnerId: s.runnerId,
            updatedAt: s.updatedAt,
          });
        }),
        ctx.bus.on('task:updated', ({ task: t }) => {
          if (t.orgId !== org.orgId) return;
          send('task', {
            id: t.id,
            sessionId: t.sessionId,
            ordinal: t.ordinal,
            state: t.state,
            exitCode: t.exitCode,
            error: t.error,
          });
        }),
        ctx.bus.on('runner:updated', ({ runner: r }) => {
          if (r.orgId !== org.orgId) return;
          send('runner', {
            id: r.id,
            poolId: r.poolId,
            state: r.state,
            sessionId: r.sessionId,
            lastHeartbeatAt: r.lastHeartbeatAt,
          });
        }),
      );
      const ping = setInterval(() => raw.write(': ping\n\n'), PING_MS);
      raw.on('close', stop);
    },
  );
}
