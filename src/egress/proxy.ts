/**
 * @module The egress proxy: an HTTP proxy (CONNECT tunnels for HTTPS and anything else, plus
 * plain `http://` forwarding with absolute URIs) that lets a sandbox reach only what its egress
 * policy allows, judged by the host name the client asks for (src/core/egress.ts). A refused
 * connection gets `403` with the reason, is counted and reported (`onDenied`) with its host; the
 * proxy itself never resolves a name to match a CIDR.
 *
 * It listens on a unix socket (bind-mounted into a sandbox whose only network is loopback, where
 * src/egress/bridge.ts forwards `127.0.0.1:<port>` to it) or on a TCP address. Built on node:net
 * and node:http only.
 */
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { type EgressPolicy, type EgressRule, egressAllows, egressRules, formatEgress } from '../core/egress.js';

/** One refused connection. */
export interface EgressDenial {
  host: string;
  port: number;
  /** `CONNECT` or the HTTP method of a forwarded request. */
  method: string;
  at: number;
}

export interface EgressProxyOptions {
  policy: EgressPolicy;
  /** A unix socket path, or a TCP address (`port: 0` picks one). */
  listen: string | { host: string; port: number };
  /** Called for every refused connection, after it was counted. */
  onDenied?: (d: EgressDenial) => void;
  /**
   * Where to connect for a host the policy allowed (default: the host itself, resolved by the OS).
   * Tests map names to loopback addresses with it.
   */
  resolve?: (host: string) => string;
  /** Open tunnels and requests at most (default 256); past it new clients get 503. */
  maxConnections?: number;
}

/** Splits `host:port` / `[v6]:port` (a CONNECT target). */
function splitHostPort(target: string, dflt: number): { host: string; port: number } | null {
  const m = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(target);
  if (!m) return null;
  const port = m[2] === undefined ? dflt : Number(m[2]);
  if (port < 1 || port > 65535) return null;
  const host = (m[1] as string).replace(/^\[|\]$/g, '');
  return { host, port };
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authorization',
  'proxy-authenticate',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * An egress proxy enforcing one policy.
 * @example
 * const p = new EgressProxy({ policy: { allow: ['*.github.com'] }, listen: '/run/egress.sock' });
 * await p.start(); // ... p.denied, p.allowed ... await p.close();
 */
export class EgressProxy {
  readonly policy: EgressPolicy;
  private readonly rules: EgressRule[];
  private readonly server: http.Server;
  private readonly sockets = new Set<net.Socket>();
  /** Connections let through. */
  allowed = 0;
  /** Connections refused by the policy. */
  denied = 0;
  /** The last few refusals (newest last, at most 20). */
  readonly recentDenials: EgressDenial[] = [];
  private active = 0;

  constructor(private readonly opts: EgressProxyOptions) {
    this.policy = opts.policy;
    this.rules = egressRules(opts.policy);
    this.server = http.createServer((req, res) => this.forward(req, res));
    this.server.on('connect', (req: http.IncomingMessage, sock: net.Socket, head: Buffer) =>
      this.tunnel(req, sock, head),
    );
    this.server.on('connection', (s: net.Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    this.server.on('clientError', (_e, s: net.Socket) => s.destroy());
  }

  /** Where it listens: the socket path, or `host:port`. */
  get address(): string {
    const a = this.server.address();
    if (a === null || typeof a === 'string') return a ?? '';
    return `${a.address}:${a.port}`;
  }

  async start(): Promise<this> {
    const l = this.opts.listen;
    if (typeof l === 'string') {
      rmSync(l, { force: true });
      this.server.listen(l);
    } else this.server.listen(l.port, l.host);
    await once(this.server, 'listening');
    return this;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    if (typeof this.opts.listen === 'string') rmSync(this.opts.listen, { force: true });
  }

  private allows(host: string): boolean {
    return this.policy === 'open' || (this.policy !== 'none' && egressAllows(this.rules, host));
  }

  private deny(host: string, port: number, method: string): string {
    this.denied++;
    const d: EgressDenial = { host, port, method, at: Date.now() };
    this.recentDenials.push(d);
    if (this.recentDenials.length > 20) this.recentDenials.shift();
    this.opts.onDenied?.(d);
    return `egress to ${host}:${port} denied by this sandbox's policy (${formatEgress(this.policy)})\n`;
  }

  private full(): boolean {
    return this.active >= (this.opts.maxConnections ?? 256);
  }

  private tunnel(req: http.IncomingMessage, client: net.Socket, head: Buffer): void {
    client.on('error', () => client.destroy());
    const target = splitHostPort(req.url ?? '', 443);
    if (target === null) {
      client.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\nCONNECT needs host:port\n');
      return;
    }
    if (!this.allows(target.host)) {
      const why = this.deny(target.host, target.port, 'CONNECT');
      client.end(`HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\n${why}`);
      return;
    }
    if (this.full()) {
      client.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\ntoo many open connections\n');
      return;
    }
    this.allowed++;
    this.active++;
    const upstream = net.connect(target.port, this.opts.resolve?.(target.host) ?? target.host);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      this.active--;
      upstream.destroy();
      client.destroy();
    };
    let established = false;
    upstream.once('connect', () => {
      established = true;
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.once('error', (e: Error) => {
      // Before the tunnel: tell the client why (\`connecting\` is already false when the error fires).
      if (!client.destroyed && !established)
        client.end(`HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\n${e.message}\n`);
      finish();
    });
    upstream.once('close', finish);
    client.once('close', finish);
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse): void {
    let url: URL;
    try {
      url = new URL(req.url ?? '');
      if (url.protocol !== 'http:') throw new Error('not http');
    } catch {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('a proxy request needs an absolute http:// URI\n');
      return;
    }
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = url.port === '' ? 80 : Number(url.port);
    if (!this.allows(host)) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end(this.deny(host, port, req.method ?? 'GET'));
      return;
    }
    if (this.full()) {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('too many open connections\n');
      return;
    }
    this.allowed++;
    this.active++;
    const headers: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) headers[k] = v;
    const up = http.request(
      {
        host: this.opts.resolve?.(host) ?? host,
        port,
        method: req.method,
        path: `${url.pathname}${url.search}`,
        headers,
        setHost: false,
      },
      (ures) => {
        const out: http.OutgoingHttpHeaders = {};
        for (const [k, v] of Object.entries(ures.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) out[k] = v;
        res.writeHead(ures.statusCode ?? 502, out);
        ures.pipe(res);
      },
    );
    let done = false;
    const finish = () => {
      if (!done) {
        done = true;
        this.active--;
      }
    };
    res.once('close', () => {
      finish();
      up.destroy();
    });
    up.once('error', (e: Error) => {
      finish();
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`${e.message}\n`);
    });
    req.pipe(up);
  }
}
