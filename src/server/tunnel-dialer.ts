/**
 * @module The server's half of the tunnel transport (src/protocol/tunnel.ts): for every live runner
 * whose provider answers `tunnelEndpoint(handle)` with a URL (a pool with `transport: tunnel`), it
 * keeps one proven, idle connection dialled to the agent's listening port through the provider's
 * port tunnel. When the agent opens it, the bytes are piped into the gateway's own unix socket, so
 * the gateway handles the runner exactly as if it had dialled in (registration, credential, leases,
 * log acks and resume), and another idle connection is dialled at once. A failed or dropped dial is
 * retried with backoff (200 ms doubling to 5 s) for as long as the runner is live, so a tunnel
 * dropped mid-task comes back and the agent's reconnect finds it. The runners are read from the
 * store on every pass, so a restarted server dials the same ones again; their secrets are derived
 * from the at-rest key and the runner id (`tunnelSecret`), never stored.
 */
import { connect } from 'node:net';
import WebSocket, { createWebSocketStream } from 'ws';
import { toError } from '../core/errors.js';
import type { RunnerState } from '../core/types.js';
import { parseTunnelFrame, TUNNEL_CLOSE_REFUSED, TUNNEL_SUBPROTOCOL, tunnelProof } from '../protocol/tunnel.js';
import type { SandboxHandle, SandboxProvider, TunnelEndpoint } from '../providers/types.js';
import type { ServerContext } from './context.js';

/** The tunnel secret runner `runnerId`'s agent is started with (from the current at-rest key). */
export function tunnelSecret(ctx: Pick<ServerContext, 'secrets' | 'redactor'>, runnerId: string): string {
  const [secret] = tunnelSecrets(ctx, runnerId);
  return secret!;
}

/** The runner's tunnel secret under every at-rest key the server holds (current first), kept out of logs. */
function tunnelSecrets(ctx: Pick<ServerContext, 'secrets' | 'redactor'>, runnerId: string): string[] {
  const all = ctx.secrets.derive(`tunnel:${runnerId}`);
  for (const s of all) ctx.redactor?.add(s);
  return all;
}

/** Runner states in which the server keeps a tunnel dialled (an offline runner may come back over it). */
const DIALLED: RunnerState[] = ['provisioning', 'connecting', 'idle', 'busy', 'draining', 'offline'];

const MIN_BACKOFF_MS = 200;
const MAX_BACKOFF_MS = 5_000;
const PING_MS = 20_000;

/** One runner's tunnel: one idle connection kept dialled, and the streams the agent opened. */
class RunnerTunnel {
  private idle: WebSocket | null = null;
  private dialing = false;
  private failures = 0;
  private retry: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly open = new Set<WebSocket>();
  private readonly ping: NodeJS.Timeout;

  constructor(
    readonly runnerId: string,
    private readonly endpoint: () => Promise<TunnelEndpoint | null>,
    private readonly secrets: string[],
    private readonly gatewaySocket: string,
    private readonly log: ServerContext['log'],
  ) {
    // Proxies in front of sandboxes drop silent connections: ping the idle one and the streams.
    this.ping = setInterval(() => {
      for (const ws of [this.idle, ...this.open]) if (ws?.readyState === WebSocket.OPEN) ws.ping();
    }, PING_MS);
    this.ping.unref();
    this.fill();
  }

  /** Dials when there is no idle connection and none being dialled. */
  private fill(): void {
    if (this.stopped || this.idle || this.dialing || this.retry) return;
    this.dialing = true;
    void this.dial().catch((e: unknown) => {
      this.dialing = false;
      this.failed(`cannot dial: ${toError(e).message}`);
    });
  }

  private failed(why: string, refused = false): void {
    this.failures++;
    const delay = Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** Math.min(this.failures - 1, 6));
    const level = refused || this.failures === 6 ? 'warn' : 'debug';
    this.log[level]({ runnerId: this.runnerId, attempt: this.failures, retryInMs: delay }, `runner tunnel: ${why}`);
    if (this.stopped) return;
    this.retry = setTimeout(() => {
      this.retry = null;
      this.fill();
    }, delay);
    this.retry.unref();
  }

  private async dial(): Promise<void> {
    const ep = await this.endpoint();
    if (!ep) throw new Error('the provider gives no tunnel endpoint for this runner');
    if (this.stopped) {
      this.dialing = false;
      return;
    }
    const ws = new WebSocket(ep.url, TUNNEL_SUBPROTOCOL, {
      headers: ep.headers ?? {},
      handshakeTimeout: 15_000,
      maxPayload: 16 * 1024 * 1024,
    });
    let state: 'handshake' | 'idle' | 'open' = 'handshake';
    let done = false;
    const end = (why: string, refused = false) => {
      if (done) return;
      done = true;
      if (this.idle === ws) this.idle = null;
      if (state === 'handshake') {
        this.dialing = false;
        this.failed(why, refused);
      } else if (state === 'idle') {
        // An idle connection that drops (the tunnel went away): dial again, with backoff.
        this.failed(`idle connection closed (${why})`);
      }
    };
    ws.on('error', (e) => end(e.message));
    ws.on('close', (code, reason) => {
      this.open.delete(ws);
      end(
        code === TUNNEL_CLOSE_REFUSED ? `the agent refused the tunnel secret (${reason.toString()})` : `closed ${code}`,
        code === TUNNEL_CLOSE_REFUSED,
      );
    });
    ws.on('message', (data, isBinary) => {
      const f = isBinary ? null : parseTunnelFrame(data.toString());
      if (state === 'handshake' && f?.t === 'challenge') {
        ws.send(JSON.stringify({ t: 'proof', proofs: this.secrets.map((s) => tunnelProof(s, f.nonce)) }));
      } else if (state === 'handshake' && f?.t === 'ready') {
        state = 'idle';
        this.dialing = false;
        this.failures = 0;
        if (this.stopped) return ws.close(1001);
        this.idle = ws;
      } else if (state === 'idle' && f?.t === 'open') {
        state = 'open';
        this.idle = null;
        this.open.add(ws);
        this.pipe(ws);
        this.fill();
      } else {
        ws.close(4400, 'unexpected tunnel frame');
      }
    });
  }

  /** The agent opened the connection: its bytes go to the gateway's unix socket and back. */
  private pipe(ws: WebSocket): void {
    ws.removeAllListeners('message');
    const stream = createWebSocketStream(ws);
    const gw = connect(this.gatewaySocket);
    gw.on('error', (e) => {
      this.log.warn({ err: e, runnerId: this.runnerId }, 'runner tunnel: cannot reach the gateway socket');
      stream.destroy();
    });
    stream.on('error', () => gw.destroy());
    stream.on('close', () => gw.destroy());
    gw.on('close', () => stream.destroy());
    stream.pipe(gw).pipe(stream);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.ping);
    if (this.retry) clearTimeout(this.retry);
    this.idle?.terminate();
    for (const ws of this.open) ws.terminate();
  }
}

/**
 * Keeps tunnels dialled to the runners that listen. `tick` (every second from src/server/main.ts)
 * starts one for each live runner whose provider gives an endpoint and stops those whose runner
 * ended, was paused or suspended.
 */
export class TunnelDialer {
  private readonly tunnels = new Map<string, RunnerTunnel>();
  /** Runners whose provider said they dial in (asked once per runner). */
  private readonly dialIn = new Set<string>();

  constructor(private readonly ctx: ServerContext) {}

  /** Whether any configured provider can use the tunnel at all (else `tick` reads nothing). */
  private get anyTunnel(): boolean {
    for (const p of this.ctx.providers.values()) if (p.tunnelEndpoint) return true;
    return false;
  }

  async tick(): Promise<void> {
    if (!this.anyTunnel) return;
    const runners = await this.ctx.store.runners.list({ states: DIALLED });
    const seen = new Set<string>();
    for (const r of runners) {
      const provider = r.handle ? this.ctx.providers.get(r.handle.providerId) : undefined;
      if (!r.handle || !provider?.tunnelEndpoint || this.dialIn.has(r.id)) continue;
      seen.add(r.id);
      if (this.tunnels.has(r.id)) continue;
      const handle = r.handle;
      const first = await provider.tunnelEndpoint(handle).catch((e: unknown) => {
        this.ctx.log.warn({ err: toError(e), runnerId: r.id }, 'runner tunnel: no endpoint yet');
        return undefined;
      });
      if (first === null) {
        this.dialIn.add(r.id);
        continue;
      }
      if (first === undefined) continue;
      this.ctx.log.info({ runnerId: r.id }, 'runner tunnel: dialling the agent');
      this.tunnels.set(r.id, this.open(r.id, provider, handle));
    }
    for (const [id, t] of this.tunnels)
      if (!seen.has(id)) {
        t.stop();
        this.tunnels.delete(id);
      }
    for (const id of this.dialIn) if (!runners.some((r) => r.id === id)) this.dialIn.delete(id);
  }

  private open(runnerId: string, provider: SandboxProvider, handle: SandboxHandle): RunnerTunnel {
    return new RunnerTunnel(
      runnerId,
      () => provider.tunnelEndpoint!(handle),
      tunnelSecrets(this.ctx, runnerId),
      this.ctx.config.gatewaySocket,
      this.ctx.log,
    );
  }

  /** Runners with a tunnel kept dialled (for tests and metrics). */
  get dialled(): string[] {
    return [...this.tunnels.keys()];
  }

  close(): void {
    for (const t of this.tunnels.values()) t.stop();
    this.tunnels.clear();
  }
}
