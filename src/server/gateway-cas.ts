/**
 * @module The workspace store on the runner gateway: the routes a runner's snapshot and restore
 * use (src/agent/gateway-chunks.ts), with its runner credential as a bearer token, on the same
 * listeners as `/v1/connect` (TCP with TLS and mutual TLS when configured, and the unix socket).
 *
 * | route | what |
 * |---|---|
 * | `POST /v1/cas/has` `{"ids": [...]}` (at most 1000) | `{"present": [bool...]}`: which objects the store holds |
 * | `PUT /v1/cas/objects/<id>` (body: the stored bytes, at most 16 MiB) | stores one object (idempotent), 204 |
 * | `POST /v1/cas/objects` (body: frames of 64 hex id bytes, a 4-byte big-endian length, the stored bytes; at most 1000 objects and 32 MiB) | stores a batch, 204; the first bad frame refuses the batch before anything is stored |
 * | `GET /v1/cas/objects/<id>` | the stored bytes, or 404 |
 *
 * Ids are lowercase hex SHA-256 (content addresses of the plain bytes): anything else is a 400, and
 * an object whose bytes do not decode to its address is refused (400) before it is stored.
 * A runner reads only objects reachable from its own session's snapshots or that it uploaded
 * (gateway-cas-scope.ts); any other id is a 404, as if absent, whether or not the store holds it.
 * Bodies are read with a cap, and one object is held at a time per request.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CorruptObject, decodeVerified } from '../cas/index.js';
import { toError } from '../core/errors.js';
import type { Runner } from '../store/records.js';
import type { ServerContext } from './context.js';
import type { RunnerReadScope } from './gateway-cas-scope.js';

/** What the routes need of the store (the store library's backend interface, src/cas/). */
export interface CasObjects {
  has(ids: string[]): Promise<boolean[]>;
  put(id: string, data: Uint8Array): Promise<void>;
  /** A batch at once, where the backend offers it (the filesystem backend packs small objects). */
  putMany?(objects: { id: string; data: Uint8Array }[]): Promise<void>;
  get(id: string): Promise<Uint8Array | null>;
}

export const CAS_HAS_MAX = 1000;
export const CAS_OBJECT_MAX = 16 * 1024 * 1024;
export const CAS_BATCH_MAX = 32 * 1024 * 1024;
const ID = /^[0-9a-f]{64}$/;

class TooLarge extends Error {}

async function readCapped(req: IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) throw new TooLarge();
  const parts: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > max) throw new TooLarge();
    parts.push(c as Buffer);
  }
  return Buffer.concat(parts);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

export class GatewayCas {
  constructor(
    private readonly ctx: ServerContext,
    private readonly objects: CasObjects,
    private readonly authenticate: (credential: string, from?: string) => Promise<Runner | null>,
    private readonly scope: RunnerReadScope,
  ) {}

  /** Serves a `/v1/cas/` request; the caller has checked the client certificate. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const m = /^Bearer\s+(\S+)$/.exec(req.headers.authorization ?? '');
    let runner: Runner | null = null;
    try {
      runner = m?.[1] ? await this.authenticate(m[1], req.socket.remoteAddress) : null;
    } catch (e: unknown) {
      this.ctx.log.error({ err: toError(e) }, 'runner authentication failed');
      return json(res, 500, { code: 'internal', message: 'authentication error' });
    }
    if (!runner) {
      req.resume();
      return json(res, 401, { code: 'unauthorized', message: 'missing, unknown or revoked runner credential' });
    }
    try {
      if (req.method === 'POST' && url === '/v1/cas/has') return await this.has(req, res);
      if (req.method === 'POST' && url === '/v1/cas/objects') return await this.putMany(runner, req, res);
      const obj = /^\/v1\/cas\/objects\/([^/?]+)$/.exec(url);
      if (obj) {
        const id = obj[1]!;
        if (!ID.test(id)) {
          req.resume();
          return json(res, 400, {
            code: 'bad_request',
            message: `object id ${JSON.stringify(id.slice(0, 80))} is not a lowercase hex SHA-256`,
          });
        }
        if (req.method === 'PUT') return await this.put(runner, id, req, res);
        if (req.method === 'GET') {
          const data = (await this.scope.mayRead(runner, id)) ? await this.objects.get(id) : null;
          if (!data)
            return json(res, 404, {
              code: 'not_found',
              message: `object ${id} is not in the store, or in no snapshot of this runner's session`,
            });
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': data.byteLength });
          res.end(data);
          return;
        }
      }
      req.resume();
      json(res, 404, { code: 'not_found', message: `no gateway route ${req.method} ${url}` });
    } catch (e: unknown) {
      const err = toError(e);
      if (err instanceof TooLarge) return json(res, 413, { code: 'too_large', message: 'body over the limit' });
      this.ctx.log.error({ err, runnerId: runner.id, url }, 'workspace store request failed');
      // The store's own message (a full disk says so), never a stack.
      json(res, 507, { code: 'store_failed', message: `the workspace store failed: ${err.message}` });
    }
  }

  private async has(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let ids: unknown;
    try {
      ids = (JSON.parse((await readCapped(req, 128 * 1024)).toString('utf8')) as { ids?: unknown }).ids;
    } catch (e: unknown) {
      if (e instanceof TooLarge) throw e;
      return json(res, 400, { code: 'bad_request', message: 'body: expected JSON {"ids": [...]}' });
    }
    if (!Array.isArray(ids) || ids.length > CAS_HAS_MAX || !ids.every((i) => typeof i === 'string' && ID.test(i)))
      return json(res, 400, {
        code: 'bad_request',
        message: `ids: expected at most ${CAS_HAS_MAX} lowercase hex SHA-256 ids`,
      });
    json(res, 200, { present: await this.objects.has(ids as string[]) });
  }

  private async putMany(runner: Runner, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readCapped(req, CAS_BATCH_MAX);
    const objects: { id: string; data: Buffer }[] = [];
    for (let at = 0; at < body.length; ) {
      const n = objects.length;
      if (n >= CAS_HAS_MAX || at + 68 > body.length)
        return json(res, 400, {
          code: 'bad_request',
          message: `object ${n}: ${n >= CAS_HAS_MAX ? `more than ${CAS_HAS_MAX} objects` : 'truncated frame header'}`,
        });
      const id = body.toString('latin1', at, at + 64);
      const len = body.readUInt32BE(at + 64);
      if (!ID.test(id))
        return json(res, 400, { code: 'bad_request', message: `object ${n}: id is not a lowercase hex SHA-256` });
      if (len === 0 || at + 68 + len > body.length)
        return json(res, 400, {
          code: 'bad_request',
          message: `object ${n} (${id}): ${len === 0 ? 'empty' : 'truncated'}`,
        });
      const data = body.subarray(at + 68, at + 68 + len);
      try {
        decodeVerified(id, data);
      } catch (e: unknown) {
        if (!(e instanceof CorruptObject)) throw e;
        return json(res, 400, { code: 'corrupt', message: `object ${n}: ${e.message}` });
      }
      objects.push({ id, data });
      at += 68 + len;
    }
    if (this.objects.putMany) await this.objects.putMany(objects);
    else for (const o of objects) await this.objects.put(o.id, o.data);
    this.scope.uploaded(
      runner,
      objects.map((o) => o.id),
    );
    res.writeHead(204).end();
  }

  private async put(runner: Runner, id: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const data = await readCapped(req, CAS_OBJECT_MAX);
    if (data.length === 0) return json(res, 400, { code: 'bad_request', message: 'empty object body' });
    try {
      decodeVerified(id, data); // what the store keeps is what its address says
    } catch (e: unknown) {
      if (!(e instanceof CorruptObject)) throw e;
      return json(res, 400, { code: 'corrupt', message: e.message });
    }
    await this.objects.put(id, data);
    this.scope.uploaded(runner, [id]);
    res.writeHead(204).end();
  }
}
