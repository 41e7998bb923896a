/**
 * @module How marionette-agent reaches the gateway: the server address (`HOST:PORT`, a URL or
 * `unix:/path`), the registration POST, and the WebSocket client, loaded on first use so that a
 * runner's start overlaps loading it with the registration round trip.
 */
import { request as httpRequest } from 'node:http';
import type WebSocket from 'ws';

export class AgentError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface Endpoint {
  /** For HTTP registration. */
  http: { socketPath?: string; host?: string; port?: number };
  /** WebSocket URL of /v1/connect. */
  ws: string;
  display: string;
}

/** Parses `host:port`, `ws://host:port`, `http://host:port` or `unix:/path.sock`. */
export function parseServerAddress(server: string): Endpoint {
  if (server.startsWith('unix:')) {
    const path = server.slice('unix:'.length);
    return { http: { socketPath: path }, ws: `ws+unix:${path}:/v1/connect`, display: server };
  }
  const m = /^(?:(?:ws|http)s?:\/\/)?([^/:]+|\[[^\]]+\]):(\d+)\/?$/.exec(server);
  if (!m)
    throw new AgentError(
      'bad_server',
      `--server ${JSON.stringify(server)}: expected HOST:PORT (e.g. marionette.example.com:9090) or unix:/path/gateway.sock`,
    );
  const host = m[1]!.replace(/^\[|\]$/g, '');
  const port = Number(m[2]);
  return { http: { host, port }, ws: `ws://${m[1]}:${port}/v1/connect`, display: `${m[1]}:${port}` };
}

/**
 * The `ws` module, loaded on first use rather than at start: a runner's start sends its
 * registration first and loads the WebSocket client (and the TLS, HTTPS and zlib modules it
 * needs) while the server answers, instead of before (see `register`).
 */
let wsModule: Promise<typeof WebSocket> | null = null;
export function loadWebSocket(): Promise<typeof WebSocket> {
  wsModule ??= import('ws').then((m) => m.default);
  return wsModule;
}

/** WebSocket.OPEN (the readyState of an open socket), without loading `ws` for the constant. */
export const WS_OPEN = 1;

/** `onSent`: called once the request is handed to the OS (the server is working on it meanwhile). */
export function postJson(
  ep: Endpoint,
  path: string,
  body: unknown,
  onSent?: () => void,
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = httpRequest(
      {
        ...ep.http,
        path,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            /* keep text */
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on('error', reject);
    if (onSent) req.once('finish', onSent);
    req.setTimeout(15_000, () => req.destroy(new Error('timed out')));
    req.end(data);
  });
}
