/**
 * @module The runner gateway: `POST /v1/register` (token → credential) and the `/v1/connect`
 * WebSocket, served on TCP (default :9090) and on a unix socket in `$MARIONETTE_HOME`, so a
 * sandbox with no network at all can still reach the server. Frames are validated with the
 * shared protocol schemas. Heartbeats are handled at once, log batches on a bounded data lane that
 * pauses the socket when full, and control frames in order on their own lane (./lanes.ts).
 */
import { mkdirSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { type WebSocket, WebSocketServer } from 'ws';
import { toError } from '../core/errors.js';
import { parseFrame, RegisterRequest, RunnerMessage, type ServerMessage } from '../protocol/messages.js';
import type { Runner } from '../store/records.js';
import type { ServerContext } from './context.js';
import type { GatewayCas } from './gateway-cas.js';
import { findNul } from './input-guards.js';
import { guardListener, type ListenerStats } from './listener-guard.js';
import { CLOSE_CREDENTIAL_IN_USE, livenessWindowMs, recordRefusal } from './runner-credentials.js';
import { RunnerLinkLimits } from './runner-link-limits.js';
import { type GatewayLinks, RunnerConnection } from './runner-links.js';
import { applyGatewaySocketAccess } from './secrets-setup.js';
import type { ServerTls } from './tls.js';

export { RunnerConnection } from './runner-links.js';

/** What the gateway calls into (implemented by RunnerService). */
export interface GatewayHandler {
  register(req: RegisterRequest, from?: string): Promise<{ status: number; body: unknown }>;
  authenticate(credential: string, from?: string): Promise<Runner | null>;
  onMessage(conn: RunnerConnection, msg: RunnerMessage): Promise<void>;
  onClose(conn: RunnerConnection): void;
}

const MAX_BODY = 64 * 1024;
/**
 * Largest runner frame. The agent batches at most 1,000 lines or about 256 KiB, but one line (up to
 * 1 MiB: an agent's JSON event) always goes whole, and its JSON escapes can grow it to ~6 MiB in the
 * worst case, so 8 MiB leaves room; a bigger frame is a broken or hostile runner and costs the event
 * loop a parse (the invalid-frame budget cuts such a runner off).
 */
const MAX_FRAME = 8 * 1024 * 1024;

async function readBody(req: IncomingMessage): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new Error('body too large');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Mutual TLS: null when the request may go on, else why not. On the TLS listener with a client CA,
 * the runner must have presented a certificate that CA signed; the unix socket has no TLS (its
 * file mode guards it).
 */
function clientCertRefusal(tls: ServerTls | null, req: IncomingMessage): string | null {
  const sock = req.socket as TLSSocket;
  if (!tls?.clientCa || !sock.encrypted || sock.authorized) return null;
  const cert = sock.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0)
    return 'this gateway requires a client certificate (mutual TLS): start the agent with --tls-cert and --tls-key';
  return `client certificate refused (${String(sock.authorizationError)}): it must be signed by the gateway's client CA`;
}

/**
 * The gateway's HTTPS server. With a client CA, a runner must present a certificate it signed
 * (mutual TLS): one without, or with another, is refused (403) before its request is read.
 */
function createTlsServer(tls: ServerTls, onRequest: (req: IncomingMessage, res: ServerResponse) => void): Server {
  return createHttpsServer(
    {
      cert: tls.cert,
      key: tls.key,
      // The certificate is checked per request (clientCertRefusal), so a runner is told why it was refused.
      ...(tls.clientCa ? { ca: tls.clientCa, requestCert: true, rejectUnauthorized: false } : {}),
    },
    onRequest,
  ) as unknown as Server;
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

export class Gateway {
  /** The live connections, shared with the services that send to runners (see GatewayLinks). */
  readonly connections: Map<string, RunnerConnection>;
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME });
  private readonly servers: Server[] = [];
  /** Hello deadline, invalid-frame budget, registration rate (src/server/runner-link-limits.ts). */
  private readonly linkLimits: RunnerLinkLimits;
  /** Open and refused connections per listener (`tcp`, `unix`). */
  readonly listenerStats = new Map<string, ListenerStats>();

  constructor(
    private readonly ctx: ServerContext,
    private readonly handler: GatewayHandler,
    private readonly links: GatewayLinks,
    /** TLS for the TCP listener (the unix socket stays plain); a client CA asks runners for certificates. */
    private readonly tls: ServerTls | null = null,
    /** The workspace store's routes (`/v1/cas/`), when the server has a store. */
    private readonly cas: GatewayCas | null = null,
  ) {
    this.connections = links.connections;
    this.linkLimits = new RunnerLinkLimits(ctx.config.limits.gateway, ctx.log);
  }

  /** Whether every listener (TCP and unix socket) is accepting connections. */
  get listening(): boolean {
    return this.servers.length > 0 && this.servers.every((s) => s.listening);
  }

  /** The TCP port the gateway listens on (0 until `listen`). */
  get tcpPort(): number {
    return this.links.tcpPort;
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    if (req.method === 'GET' && url === '/healthz') return reply(res, 200, { ok: true });
    const certRefused = clientCertRefusal(this.tls, req);
    if (certRefused) {
      recordRefusal(this.ctx, {
        kind: 'client_certificate',
        runnerId: null,
        poolId: null,
        code: 'client_certificate',
        reason: certRefused,
        remote: req.socket.remoteAddress ?? null,
      });
      return reply(res, 403, { code: 'client_certificate', message: certRefused });
    }
    if (req.method === 'POST' && url === '/v1/register') {
      let body: string;
      try {
        body = await readBody(req);
      } catch {
        return reply(res, 413, { code: 'bad_request', message: 'registration body over 64 KiB' });
      }
      const parsed = parseFrame(RegisterRequest, body);
      if (!parsed.ok) return reply(res, 400, { code: 'bad_request', message: `registration: ${parsed.error}` });
      const nul = findNul(parsed.value);
      if (nul !== null)
        return reply(res, 400, { code: 'bad_request', message: `registration: ${nul} contains a NUL byte (\\u0000)` });
      const remote = req.socket.remoteAddress ?? 'unix';
      const limited = this.linkLimits.registrationRefused(parsed.value.token);
      if (limited) {
        recordRefusal(this.ctx, {
          kind: 'registration_rate_limited',
          runnerId: null,
          poolId: null,
          code: limited.code,
          reason: limited.message,
          remote,
        });
        res.setHeader('retry-after', String(limited.retryAfterSeconds));
        return reply(res, 429, limited);
      }
      try {
        const r = await this.handler.register(parsed.value, req.socket.remoteAddress);
        if (r.status !== 200) {
          const b = r.body as { code?: string; message?: string };
          recordRefusal(this.ctx, {
            kind: 'registration_refused',
            runnerId: parsed.value.runnerId ?? null,
            poolId: null,
            code: b.code ?? String(r.status),
            reason: b.message ?? 'registration refused',
            remote,
          });
        }
        return reply(res, r.status, r.body);
      } catch (e: unknown) {
        this.ctx.log.error({ err: toError(e) }, 'registration failed');
        return reply(res, 500, { code: 'internal', message: 'registration failed on the server' });
      }
    }
    if (this.cas && url.startsWith('/v1/cas/')) return this.cas.handle(req, res);
    reply(res, 404, { code: 'not_found', message: `no gateway route ${req.method} ${url}` });
  }

  private async onUpgrade(req: IncomingMessage, socket: import('node:stream').Duplex, head: Buffer): Promise<void> {
    // Node's HTTP server stops listening for the socket's errors once it hands an upgrade over.
    // Until `ws` takes it, a reset (a runner killed mid-upgrade) would be an unhandled 'error'
    // that ends the process; it only ends this connection.
    const onSocketError = (e: Error) => {
      this.ctx.log.debug({ err: e, remote: req.socket.remoteAddress }, 'runner connection reset during upgrade');
      socket.destroy();
    };
    socket.on('error', onSocketError);
    const deny = (status: number, message: string) => {
      socket.end(`HTTP/1.1 ${status} ${message}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${message}`);
    };
    if (!req.url?.startsWith('/v1/connect')) return deny(404, 'Not Found');
    const certRefused = clientCertRefusal(this.tls, req);
    if (certRefused) return deny(403, certRefused);
    const auth = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)$/.exec(auth);
    if (!m?.[1]) return deny(401, 'missing runner credential');
    let runner: Runner | null;
    try {
      runner = await this.handler.authenticate(m[1], req.socket.remoteAddress);
    } catch (e: unknown) {
      this.ctx.log.error({ err: toError(e) }, 'runner authentication failed');
      return deny(500, 'authentication error');
    }
    const remote = req.socket.remoteAddress ?? 'unix';
    if (!runner) {
      recordRefusal(this.ctx, {
        kind: 'credential_unknown',
        runnerId: null,
        poolId: null,
        code: '401',
        reason: 'unknown or revoked runner credential',
        remote,
      });
      return deny(401, 'unknown or revoked runner credential');
    }
    const { id: runnerId, poolId } = runner;
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      socket.off('error', onSocketError); // the WebSocket listens from here on
      // One live connection per credential: a second holder is refused, the first keeps working.
      const previous = this.connections.get(runnerId);
      if (previous?.isLive(livenessWindowMs(this.ctx))) {
        const reason = 'credential in use by another live connection';
        recordRefusal(this.ctx, {
          kind: 'credential_in_use',
          runnerId,
          poolId,
          code: String(CLOSE_CREDENTIAL_IN_USE),
          reason: `runner ${runnerId}: a second connection presented its credential while the first is live (first from ${previous.remote}, second from ${remote})`,
          remote,
        });
        ws.close(CLOSE_CREDENTIAL_IN_USE, reason);
        setTimeout(() => ws.terminate(), 2_000).unref();
        return;
      }
      this.linkLimits.opened(ws, runnerId);
      this.attach(runnerId, ws, remote);
    });
  }

  private attach(runnerId: string, ws: WebSocket, remote: string): void {
    const conn = new RunnerConnection(runnerId, ws, remote);
    const previous = this.connections.get(runnerId);
    // Silent past the liveness window (a dropped network not yet noticed): the runner is back on a new one.
    if (previous) {
      previous.close(4000, 'replaced by a newer connection (this one was silent)');
      previous.terminate();
    }
    this.connections.set(runnerId, conn);
    ws.on('message', (data, isBinary) => {
      conn.lastSeenAt = Date.now();
      if (isBinary) {
        if (this.linkLimits.invalidFrame(ws, runnerId, 'binary frame')) return;
        conn.send({ type: 'error', code: 'bad_frame', message: 'binary frames are not part of the protocol' });
        return;
      }
      const parsed = parseFrame(RunnerMessage, data.toString());
      if (!parsed.ok) {
        if (this.linkLimits.invalidFrame(ws, runnerId, parsed.error)) return;
        conn.send({ type: 'error', code: 'bad_frame', message: parsed.error });
        return;
      }
      if (parsed.value.type === 'hello') this.linkLimits.helloReceived(ws);
      conn.dispatch(parsed.value.type, async () => {
        try {
          await this.handler.onMessage(conn, parsed.value);
        } catch (e: unknown) {
          this.ctx.log.error({ err: toError(e), runnerId, type: parsed.value.type }, 'runner message failed');
          conn.send({ type: 'error', code: 'internal', message: `server failed to handle ${parsed.value.type}` });
        }
      });
    });
    ws.on('close', () => {
      if (this.connections.get(runnerId) === conn) {
        this.connections.delete(runnerId);
        conn.lanes.enqueueAfterData(async () => this.handler.onClose(conn));
      }
    });
    ws.on('error', (e) => this.ctx.log.debug({ err: e, runnerId }, 'runner socket error'));
  }

  send(runnerId: string, msg: ServerMessage): boolean {
    return this.links.send(runnerId, msg);
  }

  isConnected(runnerId: string): boolean {
    return this.links.isConnected(runnerId);
  }

  async listen(): Promise<void> {
    const make = (name: string) => {
      const onRequest = (req: IncomingMessage, res: ServerResponse) => void this.onRequest(req, res);
      const s = name === 'tcp' && this.tls ? createTlsServer(this.tls, onRequest) : createServer(onRequest);
      s.on('upgrade', (req, socket, head) => void this.onUpgrade(req, socket, head));
      this.listenerStats.set(name, guardListener(s, this.ctx.config.limits.gateway, `gateway (${name})`, this.ctx.log));
      this.servers.push(s);
      return s;
    };
    const tcp = make('tcp');
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(this.ctx.config.gatewayPort, this.ctx.config.gatewayHost, () => resolve());
    });
    this.links.tcpPort = (tcp.address() as AddressInfo).port;
    const unix = make('unix');
    // The socket lives in its own folder so sandboxes can mount the folder (not $MARIONETTE_HOME,
    // and not the socket file, whose inode changes on every restart).
    mkdirSync(dirname(this.ctx.config.gatewaySocket), { recursive: true, mode: 0o755 });
    rmSync(this.ctx.config.gatewaySocket, { force: true });
    await new Promise<void>((resolve, reject) => {
      unix.once('error', reject);
      unix.listen(this.ctx.config.gatewaySocket, () => resolve());
    });
    // 0660 with the group of docker runners, who run as another user (0600 for a docker user without a group).
    applyGatewaySocketAccess(this.ctx.config.gatewaySocket, this.ctx.config, (m) => this.ctx.log.warn(m));
  }

  async close(): Promise<void> {
    for (const c of this.connections.values()) c.close(1001, 'server shutting down');
    this.connections.clear();
    this.wss.close();
    await Promise.all(
      this.servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve());
            s.closeAllConnections();
          }),
      ),
    );
    rmSync(this.ctx.config.gatewaySocket, { force: true });
  }
}
