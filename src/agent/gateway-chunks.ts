/**
 * @module The workspace store as a runner sees it: the gateway's `/v1/cas/` routes on the same
 * address the runner dials (TCP with TLS when the gateway has it, or the unix socket), called with
 * the runner's credential. `has` asks which chunks the store lacks, in batches; `put` sends one
 * chunk's stored bytes; `get` reads one back. Requests share one keep-alive connection pool, and
 * at most one chunk is held per call, so memory stays bounded whatever the workspace size.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import type { Endpoint } from './gateway-client.js';

/** Ids per `has` request and objects per `putMany` request (the server refuses more). */
export const HAS_BATCH = 1000;
/** Bytes per `putMany` request (the server refuses over 32 MiB). */
export const PUT_MANY_BYTES = 8 * 1024 * 1024;

export class GatewayChunkError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** A request failed on a kept-alive connection the server had closed: safe to send again. */
class StaleSocket extends Error {
  constructor(readonly original: Error) {
    super(original.message);
  }
}

export class GatewayChunks {
  private agent: HttpAgent | null = null;

  constructor(
    private readonly ep: Endpoint,
    private readonly credential: () => string | null,
  ) {}

  /** Which of `ids` the store already holds (one request per HAS_BATCH ids). */
  async has(ids: string[]): Promise<boolean[]> {
    const out: boolean[] = [];
    for (let i = 0; i < ids.length; i += HAS_BATCH) {
      const batch = ids.slice(i, i + HAS_BATCH);
      const res = await this.call(
        'POST',
        '/v1/cas/has',
        Buffer.from(JSON.stringify({ ids: batch })),
        'application/json',
      );
      const body = JSON.parse(res.body.toString('utf8')) as { present?: unknown };
      if (!Array.isArray(body.present) || body.present.length !== batch.length)
        throw new GatewayChunkError(res.status, 'the gateway answered a chunk query with a malformed list');
      for (const p of body.present) out.push(p === true);
    }
    return out;
  }

  async put(id: string, data: Uint8Array): Promise<void> {
    await this.call('PUT', `/v1/cas/objects/${id}`, data, 'application/octet-stream');
  }

  /**
   * Stores several objects in as few requests as fit (at most PUT_MANY_BYTES and HAS_BATCH
   * objects each): `id` (64 hex bytes), a 4-byte big-endian length, then the stored bytes.
   */
  async putMany(objects: { id: string; data: Uint8Array }[]): Promise<void> {
    let frames: Buffer[] = [];
    let size = 0;
    const send = async () => {
      if (!frames.length) return;
      const body = Buffer.concat(frames);
      frames = [];
      size = 0;
      await this.call('POST', '/v1/cas/objects', body, 'application/octet-stream');
    };
    for (const o of objects) {
      if (size + 68 + o.data.byteLength > PUT_MANY_BYTES || frames.length >= HAS_BATCH * 2) await send();
      const head = Buffer.alloc(68);
      head.write(o.id, 0, 64, 'latin1');
      head.writeUInt32BE(o.data.byteLength, 64);
      frames.push(head, Buffer.from(o.data.buffer, o.data.byteOffset, o.data.byteLength));
      size += 68 + o.data.byteLength;
    }
    await send();
  }

  async get(id: string): Promise<Uint8Array | null> {
    const res = await this.call('GET', `/v1/cas/objects/${id}`, null, null, true);
    return res.status === 404 ? null : res.body;
  }

  close(): void {
    this.agent?.destroy();
    this.agent = null;
  }

  private async pool(): Promise<HttpAgent> {
    if (this.agent) return this.agent;
    if (this.ep.tls) {
      const { Agent } = await import('node:https');
      this.agent = new Agent({ keepAlive: true, maxSockets: 4, ...(this.ep.tlsOptions ?? {}) });
    } else this.agent = new HttpAgent({ keepAlive: true, maxSockets: 4 });
    return this.agent;
  }

  private async call(
    method: string,
    path: string,
    body: Uint8Array | null,
    type: string | null,
    notFoundOk = false,
  ): Promise<{ status: number; body: Buffer }> {
    const cred = this.credential();
    if (!cred) throw new GatewayChunkError(401, 'no runner credential yet');
    const agent = await this.pool();
    const request = this.ep.tls ? (await import('node:https')).request : httpRequest;
    // A kept-alive connection the gateway closed while idle (its keep-alive timeout) fails the
    // next request sent on it before any answer; every route here is idempotent, so such a
    // request is sent again on a fresh connection (a few times at most).
    let res: { status: number; body: Buffer } | undefined;
    for (let attempt = 0; !res; attempt++) {
      try {
        res = await this.send(request, agent, cred, method, path, body, type);
      } catch (e: unknown) {
        if (!(e instanceof StaleSocket) || attempt >= 3) throw e instanceof StaleSocket ? e.original : e;
      }
    }
    if (res.status >= 200 && res.status < 300) return res;
    if (res.status === 404 && notFoundOk) return res;
    let message = res.body.toString('utf8').slice(0, 500);
    try {
      message = (JSON.parse(message) as { message?: string }).message ?? message;
    } catch {
      /* plain text */
    }
    throw new GatewayChunkError(
      res.status,
      `${method} ${path.split('/').slice(0, 4).join('/')}: ${res.status} ${message}`,
    );
  }

  private send(
    request: typeof httpRequest,
    agent: HttpAgent,
    cred: string,
    method: string,
    path: string,
    body: Uint8Array | null,
    type: string | null,
  ): Promise<{ status: number; body: Buffer }> {
    return new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
      const req = request(
        {
          ...this.ep.http,
          ...(this.ep.tls ? (this.ep.tlsOptions ?? {}) : {}),
          agent,
          path,
          method,
          headers: {
            authorization: `Bearer ${cred}`,
            ...(type ? { 'content-type': type } : {}),
            'content-length': body ? body.byteLength : 0,
          },
        },
        (r: IncomingMessage) => {
          const parts: Buffer[] = [];
          r.on('data', (c: Buffer) => parts.push(c));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, body: Buffer.concat(parts) }));
          r.on('error', reject);
        },
      );
      req.on('error', (e: Error & { code?: string }) =>
        reject(req.reusedSocket && (e.code === 'ECONNRESET' || e.code === 'EPIPE') ? new StaleSocket(e) : e),
      );
      req.setTimeout(120_000, () => req.destroy(new Error(`${method} ${path}: no answer from the gateway in 120 s`)));
      req.end(body ?? undefined);
    });
  }
}
