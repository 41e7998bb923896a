/**
 * @module How marionette-agent reaches the gateway: the server address (`HOST:PORT`, a URL or
 * `unix:/path`), the registration POST, and the WebSocket client, loaded on first use so that a
 * runner's start overlaps loading it with the registration round trip.
 */
import { request as httpRequest } from 'node:http';
import { isIP } from 'node:net';
import type { PeerCertificate } from 'node:tls';
import type WebSocket from 'ws';
import type { TlsClientOptions } from './tls-client.js';

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
  /** `wss://` or `https://`: TLS, verified (src/agent/tls-client.ts); never downgraded to plain. */
  tls: boolean;
  /** TLS client options (CA, pin, client certificate), set by the agent before it connects. */
  tlsOptions?: TlsClientOptions;
}

/**
 * Parses `host:port` or `ws://host:port` / `http://host:port` (plain), `wss://host:port` /
 * `https://host:port` (TLS), or `unix:/path.sock`.
 */
export function parseServerAddress(server: string): Endpoint {
  if (server.startsWith('unix:')) {
    const path = server.slice('unix:'.length);
    return { http: { socketPath: path }, ws: `ws+unix:${path}:/v1/connect`, display: server, tls: false };
  }
  const m = /^(?:(wss|https|ws|http):\/\/)?([^/:]+|\[[^\]]+\]):(\d+)\/?$/.exec(server);
  if (!m)
    throw new AgentError(
      'bad_server',
      `--server ${JSON.stringify(server)}: expected HOST:PORT (e.g. marionette.example.com:9090), wss://HOST:PORT for TLS, or unix:/path/gateway.sock`,
    );
  const tls = m[1] === 'wss' || m[1] === 'https';
  const host = m[2]!.replace(/^\[|\]$/g, '');
  const port = Number(m[3]);
  return {
    http: { host, port },
    ws: `${tls ? 'wss' : 'ws'}://${m[2]}:${port}/v1/connect`,
    display: `${tls ? 'wss://' : ''}${m[2]}:${port}`,
    tls,
  };
}

/**
 * Several gateway addresses, comma-separated (`a:9090,b:9090`: server replicas, docs/replicas.md).
 * All must be TLS or all plain: one set of TLS settings serves them all.
 */
export function parseServerAddresses(server: string): Endpoint[] {
  const parts = server
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (parts.length === 0)
    throw new AgentError('bad_server', `--server ${JSON.stringify(server)}: no gateway address given`);
  const all = parts.map(parseServerAddress);
  if (all.some((e) => e.tls !== all[0]!.tls))
    throw new AgentError(
      'bad_server',
      `--server ${JSON.stringify(server)}: mixes TLS (wss://) and plain addresses; use one kind for every replica`,
    );
  return all;
}

/**
 * The gateway addresses an agent may use, and the one in use (`current`, one object the agent's
 * clients hold on to: `next()` points it at the next address, keeping its TLS options).
 */
export class GatewayEndpoints {
  readonly current: Endpoint;
  private index = 0;

  constructor(private readonly all: Endpoint[]) {
    this.current = { ...all[0]! };
  }

  /** Moves to the next address; false when there is only one. */
  next(): boolean {
    if (this.all.length < 2) return false;
    this.index = (this.index + 1) % this.all.length;
    const e = this.all[this.index]!;
    this.current.http = e.http;
    this.current.ws = e.ws;
    this.current.display = e.display;
    return true;
  }
}

/** The certificate a TLS gateway presents, read without trusting it (for a fingerprint pin to check). */
export async function peekCertificate(ep: Endpoint, base: TlsClientOptions): Promise<PeerCertificate> {
  const { connect } = await import('node:tls');
  return new Promise((resolve, reject) => {
    const host = ep.http.host ?? 'localhost';
    const sock = connect({
      host,
      port: ep.http.port ?? 0,
      ...(isIP(host) ? {} : { servername: host }),
      ...base,
      rejectUnauthorized: false,
    });
    sock.setTimeout(15_000, () => sock.destroy(new Error('timed out')));
    sock.once('secureConnect', () => {
      const cert = sock.getPeerCertificate();
      sock.destroy();
      resolve(cert);
    });
    sock.once('error', reject);
  });
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
export async function postJson(
  ep: Endpoint,
  path: string,
  body: unknown,
  onSent?: () => void,
): Promise<{ status: number; body: unknown }> {
  const request = ep.tls ? (await import('node:https')).request : httpRequest;
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = request(
      {
        ...ep.http,
        ...(ep.tls ? (ep.tlsOptions ?? {}) : {}),
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
