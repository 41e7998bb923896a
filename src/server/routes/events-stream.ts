/**
 * @module The org's live changes over Server-Sent Events (`GET /v1/events`), for the dashboard:
 * `session`, `task`, `runner` and `snapshot` events carrying the fields a list shows, and `pool`
 * events naming a pool that changed (read it again), as the event bus says them, only those of the
 * caller's org. A token limited to a project gets only its
 * project's (../event-scope.ts says which). Nothing is replayed: a client reads the lists first and
 * patches them from the stream (after a reconnect it reads them again). A `: ping` comment every
 * 15 s keeps proxies from closing it; a client that cannot keep up is disconnected (never buffered
 * without bound).
 */
import { InvalidRequest } from '../../core/errors.js';
import type { Api } from '../api.js';
import type { ServerContext } from '../context.js';
import { ProjectEventScope, type RunnerEvent } from '../event-scope.js';

const PING_MS = 15_000;
const MAX_BUFFERED = 4 * 1024 * 1024;
/** A project token's events wait for a store read (whose session is this?): at most this many at once. */
const MAX_PENDING = 10_000;

export function eventStreamRoutes(api: Api, ctx: ServerContext): void {
  api.route(
    'GET',
    '/v1/events',
    {
      summary: "The org's (or the token's project's) session, task, runner and snapshot changes over SSE",
      tag: 'meta',
      streams: true,
    },
    async ({ req, reply, org }) => {
      // Asked for as a stream only: a plain GET (a link followed, a script listing routes) is told how.
      if (!/text\/event-stream/.test(req.headers.accept ?? ''))
        throw new InvalidRequest('GET /v1/events is a Server-Sent Events stream: send Accept: text/event-stream');
      const projectId = req.principal?.projectId ?? null;
      const scope = projectId ? new ProjectEventScope(ctx.store, org.orgId, projectId) : null;
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
      let closed = false;
      const stop = () => {
        closed = true;
        for (const off of offs.splice(0)) off();
        clearInterval(ping);
      };
      const send = (event: string, data: unknown) => {
        if (closed) return;
        if (raw.writableLength > MAX_BUFFERED) {
          stop();
          raw.end();
          return;
        }
        raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      };
      // A project token's events go through its scope one after another (in the bus's order), each
      // perhaps after a store read; an org token's are sent at once.
      let chain: Promise<void> = Promise.resolve();
      let pending = 0;
      const inOrder = (decide: () => Promise<unknown>, event: string) => {
        if (++pending > MAX_PENDING) {
          stop();
          raw.end();
          return;
        }
        chain = chain
          .then(async () => {
            const data = closed ? null : await decide();
            if (data) send(event, data);
          })
          .catch((e: unknown) => {
            ctx.log.warn({ err: e }, 'event stream: a project scope check failed; closing the stream');
            stop();
            raw.end();
          })
          .finally(() => {
            pending--;
          });
      };
      /** An org token gets `data` at once; a project token what `keep` says (by default `data`), in order. */
      const publish = <T>(
        event: string,
        data: T,
        keep: (sc: ProjectEventScope) => Promise<T | null> = async () => data,
      ) => {
        if (scope) inOrder(() => keep(scope), event);
        else send(event, data);
      };
      /** Keeps `data` for a project token when `sessionId` is its project's. */
      const ofSession =
        <T>(sessionId: string, data: T) =>
        async (sc: ProjectEventScope) =>
          (await sc.sessionId(sessionId)) ? data : null;
      offs.push(
        ctx.bus.on('session:updated', ({ session: s }) => {
          if (s.orgId !== org.orgId) return;
          if (scope && !scope.session(s)) return;
          const data = {
            id: s.id,
            agent: s.agent,
            state: s.state,
            stateReason: s.stateReason,
            poolId: s.poolId,
            runnerId: s.runnerId,
            updatedAt: s.updatedAt,
          };
          // Behind any project check still waiting, so a session's events keep their order.
          publish('session', data);
        }),
        ctx.bus.on('task:updated', ({ task: t }) => {
          if (t.orgId !== org.orgId) return;
          const data = {
            id: t.id,
            sessionId: t.sessionId,
            ordinal: t.ordinal,
            state: t.state,
            exitCode: t.exitCode,
            error: t.error,
          };
          publish('task', data, ofSession(t.sessionId, data));
        }),
        ctx.bus.on('runner:updated', ({ runner: r }) => {
          if (r.orgId !== org.orgId) return;
          const data: RunnerEvent = {
            id: r.id,
            poolId: r.poolId,
            state: r.state,
            sessionId: r.sessionId,
            lastHeartbeatAt: r.lastHeartbeatAt,
          };
          publish('runner', data, (sc) => sc.runner(data));
        }),
        ctx.bus.on('workspace:snapshotted', ({ snapshot: n }) => {
          if (n.orgId !== org.orgId) return;
          const data = {
            id: n.id,
            sessionId: n.sessionId,
            parentId: n.parentId,
            reason: n.reason,
            files: n.files,
            bytes: n.bytes,
            bytesNew: n.bytesNew,
            pinned: n.pinned,
            createdAt: n.createdAt,
          };
          publish('snapshot', data, ofSession(n.sessionId, data));
        }),
        ctx.bus.on('pool:changed', ({ poolId, orgId, projectIds }) => {
          scope?.poolChanged(poolId);
          if (orgId !== org.orgId) return; // another org's, or said without its org: nothing to send
          // A project token: the pools its sessions may use (its project's and the org's shared ones).
          const usable = (sc: ProjectEventScope) => (projectIds ?? []).some((p) => p === null || p === sc.projectId);
          const data = { id: poolId };
          publish('pool', data, async (sc) => (usable(sc) ? data : null));
        }),
      );
      const ping = setInterval(() => raw.write(': ping\n\n'), PING_MS);
      raw.on('close', stop);
    },
  );
}
