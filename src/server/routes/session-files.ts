/**
 * @module `mctl sessions cp`'s routes: `GET /v1/sessions/:id/files?path=P` answers `path` in the
 * session's workspace as a tar stream (its last component the one top entry), passed on as the
 * runner packs it; `PUT /v1/sessions/:id/files?path=P&name=N` with an `application/x-tar` body
 * unpacks it there (../session-ops.ts sends it to the runner, ../../agent/session-files.ts unpacks).
 * A missing path, one outside the workspace, a session with no live runner: a problem+json reply
 * naming it. A download the runner breaks off after it started is cut (the connection is closed
 * before the end of the chunked body), so a client never takes a partial tar for a whole one.
 */
import { once } from 'node:events';
import { FilesQuery, PutFilesQuery } from '../../api/session-op-schemas.js';
import { InvalidRequest } from '../../core/errors.js';
import type { Api } from '../api.js';
import { abortOnClose, written } from '../client-flush.js';
import type { SessionOps } from '../session-ops.js';

export function sessionFileRoutes(api: Api, ops: SessionOps): void {
  api.route(
    'GET',
    '/v1/sessions/:id/files',
    {
      summary: "A file or directory of the session's workspace, as a tar",
      tag: 'sessions',
      query: FilesQuery,
      streams: true,
    },
    async ({ params, query, org, reply }) => {
      let raw: typeof reply.raw | null = null;
      const r = await ops.run(
        org,
        params.id!,
        { kind: 'files.get', path: query.path },
        {
          onOutput: (stream, data) => {
            if (stream !== 'stdout') return;
            if (!raw) {
              reply.hijack();
              raw = reply.raw;
              raw.writeHead(200, { 'content-type': 'application/x-tar' });
            }
            return written(raw, Buffer.from(data, 'base64'));
          },
          signal: abortOnClose(reply.raw),
        },
      );
      const started = raw as typeof reply.raw | null;
      if (r.error || r.exitCode !== 0) {
        if (started) return started.destroy();
        throw new InvalidRequest(r.error ?? `tar exited ${r.exitCode}`);
      }
      if (started) return started.end();
      reply.header('content-type', 'application/x-tar');
      return reply.send(Buffer.alloc(0));
    },
  );
  api.route(
    'PUT',
    '/v1/sessions/:id/files',
    {
      summary: "Unpack a tar (one top entry) into the session's workspace",
      tag: 'sessions',
      query: PutFilesQuery,
    },
    async ({ params, query, org, req, reply }) => {
      // What is left of the upload is read to its end before a refusal is answered, so the client
      // (still sending) gets the answer rather than a connection reset.
      const drain = async () => {
        if (req.raw.readableEnded || req.raw.destroyed) return;
        req.raw.resume();
        await once(req.raw, 'end').catch(() => {});
      };
      if (!/^application\/x-tar\b/.test(req.headers['content-type'] ?? '')) {
        await drain();
        throw new InvalidRequest('the body must be a tar (content-type: application/x-tar)');
      }
      let r: Awaited<ReturnType<SessionOps['run']>>;
      try {
        r = await ops.run(
          org,
          params.id!,
          { kind: 'files.put', path: query.path, name: query.name },
          { input: req.raw, signal: abortOnClose(reply.raw) },
        );
      } catch (e: unknown) {
        await drain();
        throw e;
      }
      if (r.error || r.exitCode !== 0) {
        await drain();
        throw new InvalidRequest(r.error ?? `tar exited ${r.exitCode}`);
      }
      return { path: query.path, name: query.name };
    },
  );
}
