/**
 * @module marionette-agent's listen mode (`--listen PORT`, `MARIONETTE_LISTEN`): for a sandbox that
 * cannot reach the gateway, the agent listens on PORT and the server dials it through the
 * provider's port tunnel (src/protocol/tunnel.ts has the handshake). Every connection must prove
 * it knows the runner's tunnel secret before anything else is said; one that cannot is closed
 * with 4401 and logged. Proven connections wait idle; whenever the agent opens a connection to the
 * gateway (registration, the runner WebSocket, a workspace transfer), it opens it on a private
 * unix socket of its own, and the bytes are relayed over one idle tunnel connection. So the agent
 * itself is unchanged: it "dials" `unix:<relay>`, and the server pipes the stream into its gateway.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WebSocket, WebSocketServer } from 'ws';
import {
  parseTunnelFrame,
  TUNNEL_CLOSE_PROTOCOL,
  TUNNEL_CLOSE_REFUSED,
  TUNNEL_SUBPROTOCOL,
  TUNNEL_VERSION,
  tunnelProofMatches,
} from '../protocol/tunnel.js';
import { AgentError } from './gateway-client.js';

export interface TunnelListenOptions {
  port: number;
  /** Default `0.0.0.0` (the provider's tunnel reaches the sandbox from outside). */
  host?: string;
  secret: string;
  log: (msg: string) => void;
  /** How long a gateway connection waits for the server to dial (default 60 s). */
  waitMs?: number;
}

/** How long a new tunnel connection may take to prove itself. */
const HANDSHAKE_MS = 10_000;

export class TunnelListener {
  private readonly idle: WebSocket[] = [];
  private readonly waiters: Array<(ws: WebSocket) => void> = [];
  private readonly relayDir: string;
  private closed = false;

  private constructor(
    private readonly wss: WebSocketServer,
    private readonly relay: Server,
    private readonly opts: TunnelListenOptions,
    relayDir: string,
    /** The port listened on (the given one, or the one picked for 0). */
    readonly port: number,
  ) {
    this.relayDir = relayDir;
  }

  /** The address the agent dials instead of the gateway: `unix:<relay socket>`. */
  get gatewayAddress(): string {
    return `unix:${join(this.relayDir, 'gateway.sock')}`;
  }

  /** Listens on `opts.port` and on the private relay socket. */
  static async start(opts: TunnelListenOptions): Promise<TunnelListener> {
    const { WebSocketServer } = await import('ws');
    const wss = new WebSocketServer({
      port: opts.port,
      host: opts.host ?? '0.0.0.0',
      maxPayload: 16 * 1024 * 1024,
      // Only the tunnel's subprotocol: anything else on the port is refused at the upgrade.
      verifyClient: (info: { req: import('node:http').IncomingMessage }) =>
        String(info.req.headers['sec-websocket-protocol'] ?? '')
          .split(',')
          .some((p) => p.trim() === TUNNEL_SUBPROTOCOL),
      handleProtocols: (protocols) => (protocols.has(TUNNEL_SUBPROTOCOL) ? TUNNEL_SUBPROTOCOL : false),
    });
    await new Promise<void>((resolve, reject) => {
      wss.once('listening', resolve);
      wss.once('error', (e) =>
        reject(new AgentError('listen_failed', `cannot listen on port ${opts.port}: ${(e as Error).message}`)),
      );
    });
    const port = (wss.address() as { port: number }).port;
    // mkdtemp makes the folder 0700: only this user reaches the relay.
    const dir = mkdtempSync(join(tmpdir(), 'marionette-tunnel-'));
    const relay = createServer();
    const t = new TunnelListener(wss, relay, opts, dir, port);
    relay.on('connection', (s) => void t.relayOne(s));
    await new Promise<void>((resolve, reject) => {
      relay.once('error', reject);
      relay.listen(join(dir, 'gateway.sock'), () => resolve());
    });
    wss.on('connection', (ws, req) => t.accept(ws, req.socket.remoteAddress ?? 'unknown'));
    opts.log(`listening for the server's tunnel on port ${port}`);
    return t;
  }

  /** The handshake: challenge, check the proof, then keep the connection idle. */
  private accept(ws: WebSocket, remote: string): void {
    const nonce = randomBytes(32).toString('hex');
    let proven = false;
    const timer = setTimeout(() => {
      this.opts.log(`tunnel connection from ${remote} did not prove itself in time; closed`);
      ws.close(TUNNEL_CLOSE_REFUSED, 'no proof');
      ws.terminate();
    }, HANDSHAKE_MS);
    timer.unref();
    ws.on('error', () => ws.terminate());
    ws.on('close', () => {
      clearTimeout(timer);
      const i = this.idle.indexOf(ws);
      if (i >= 0) this.idle.splice(i, 1);
    });
    ws.on('message', (data, isBinary) => {
      if (proven) {
        // An idle connection says nothing until the agent opens it.
        ws.close(TUNNEL_CLOSE_PROTOCOL, 'unexpected frame on an idle tunnel');
        return;
      }
      clearTimeout(timer);
      const f = isBinary ? null : parseTunnelFrame(data.toString());
      if (f?.t !== 'proof' || !tunnelProofMatches(this.opts.secret, nonce, f.proofs)) {
        this.opts.log(`refused a tunnel connection from ${remote}: wrong tunnel credential`);
        ws.close(TUNNEL_CLOSE_REFUSED, 'tunnel credential refused');
        setTimeout(() => ws.terminate(), 2000).unref();
        return;
      }
      proven = true;
      ws.send(JSON.stringify({ t: 'ready' }));
      const waiter = this.waiters.shift();
      if (waiter) waiter(ws);
      else this.idle.push(ws);
    });
    ws.send(JSON.stringify({ t: 'challenge', v: TUNNEL_VERSION, nonce }));
  }

  /** A proven idle connection, as soon as the server has one dialled (null after `waitMs`). */
  private take(): Promise<WebSocket | null> {
    const ws = this.idle.shift();
    if (ws) return Promise.resolve(ws);
    return new Promise((resolve) => {
      const waiter = (w: WebSocket) => {
        clearTimeout(timer);
        resolve(w);
      };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(null);
      }, this.opts.waitMs ?? 60_000);
      timer.unref();
      this.waiters.push(waiter);
    });
  }

  /** Relays one connection the agent made to the gateway over one tunnel connection. */
  private async relayOne(sock: Socket): Promise<void> {
    sock.pause();
    sock.on('error', () => sock.destroy());
    const ws = await this.take();
    if (!ws || this.closed || sock.destroyed) {
      if (!ws && !this.closed) this.opts.log('no tunnel from the server yet; the gateway connection waits for it');
      ws?.close(1000);
      sock.destroy();
      return;
    }
    const { createWebSocketStream } = await import('ws');
    ws.removeAllListeners('message');
    ws.send(JSON.stringify({ t: 'open' }));
    const stream = createWebSocketStream(ws);
    stream.on('error', () => sock.destroy());
    stream.on('close', () => sock.destroy());
    sock.on('close', () => stream.destroy());
    sock.pipe(stream).pipe(sock);
    sock.resume();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const ws of this.idle.splice(0)) ws.terminate();
    for (const c of this.wss.clients) c.terminate();
    await new Promise<void>((r) => this.wss.close(() => r()));
    await new Promise<void>((r) => this.relay.close(() => r()));
    rmSync(this.relayDir, { recursive: true, force: true });
  }
}
