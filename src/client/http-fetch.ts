/**
 * @module The part of `fetch` that {@link MarionetteClient} uses, over `node:http` (and
 * `node:https`, loaded only for an https URL). mctl passes it as the client's `fetch`: Node 20's
 * global fetch loads its HTTP stack (undici, with TLS) on first use, which costs a command that
 * makes one or two requests more than the requests themselves (see bench/cli.ts). Requests reuse
 * connections (the default agent keeps them alive), so `tasks create --wait` opens one.
 *
 * It answers with a {@link Response}-like object: `ok`, `status`, `statusText`, `text()`,
 * `json()`, and `body`, an async iterable of the response's bytes (an SSE stream). A connection
 * failure rejects as fetch does: a TypeError whose `cause` has the system's `code`.
 */
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { createRequire } from 'node:module';

export interface HttpInit {
  method?: string;
  headers?: Record<string, string>;
  /** A string, or a stream sent as it is read (an upload). */
  body?: string | NodeJS.ReadableStream;
  signal?: AbortSignal;
}

class HttpResponse {
  readonly ok: boolean;
  readonly status: number;
  readonly statusText: string;
  constructor(readonly body: IncomingMessage) {
    this.status = body.statusCode ?? 0;
    this.ok = this.status >= 200 && this.status < 300;
    this.statusText = body.statusMessage ?? '';
  }
  async text(): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const c of this.body) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }
  async json(): Promise<unknown> {
    return JSON.parse(await this.text()) as unknown;
  }
}

/**
 * A `fetch` for the calls MarionetteClient makes (`url`, method, headers, a string or stream body, a signal).
 * `tls.ca`: trust this CA (PEM) for an https URL instead of the system's; the certificate is
 * always verified.
 */
export async function httpFetch(url: string, init: HttpInit = {}, tls?: { ca?: Buffer }): Promise<HttpResponse> {
  const u = new URL(url);
  const https = u.protocol === 'https:';
  // Loaded by require, not import(): mctl's bundle runs through a code cache that cannot run import() (../compile-cache.ts).
  const request = https
    ? (createRequire(import.meta.url)('node:https') as typeof import('node:https')).request
    : httpRequest;
  const opts: RequestOptions & { ca?: Buffer } = {
    method: init.method ?? 'GET',
    headers: init.headers ?? {},
    ...(init.signal ? { signal: init.signal } : {}),
    ...(https && tls?.ca ? { ca: tls.ca } : {}),
  };
  return new Promise((resolve, reject) => {
    const req = request(u, opts, (res) => resolve(new HttpResponse(res)));
    req.on('error', (e: Error) => {
      if (init.signal?.aborted) reject(e);
      else reject(new TypeError('fetch failed', { cause: e }));
    });
    if (init.body === undefined || typeof init.body === 'string') req.end(init.body);
    else {
      const body = init.body;
      body.once('error', (e: Error) => req.destroy(e));
      body.pipe(req);
    }
  });
}

/** {@link httpFetch} typed as the client's `fetch` option. */
export const nodeFetch = ((url: string, init?: HttpInit) => httpFetch(url, init)) as unknown as typeof fetch;

/** {@link nodeFetch} trusting the CA in `ca` (PEM) for https. */
export function nodeFetchWithCa(ca: Buffer): typeof fetch {
  return ((url: string, init?: HttpInit) => httpFetch(url, init, { ca })) as unknown as typeof fetch;
}
