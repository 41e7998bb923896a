/**
 * @module A runner's live WebSocket connection, and the table of them (`GatewayLinks`): the
 * gateway fills the table as runners connect; the services that send to runners (commands, task
 * assignments) read it. Kept apart from the gateway so those services need not hold the gateway
 * itself (which needs them as its handler).
 */
import type { WebSocket } from 'ws';
import type { RunnerMessage, ServerMessage } from '../protocol/messages.js';
import { FrameLanes } from './lanes.js';

export class RunnerConnection {
  helloDone = false;
  readonly lanes: FrameLanes;
  /** When the last frame arrived (or the connection opened): a second holder of the credential is refused while this is recent. */
  lastSeenAt = Date.now();
  /** The rotated credential sent in `welcome`, until the runner confirms it saved it. */
  pendingCredential: string | null = null;
  constructor(
    readonly runnerId: string,
    private readonly ws: WebSocket,
    /** The peer's address (IP, or `unix` for the unix socket). */
    readonly remote: string | null = null,
  ) {
    this.lanes = new FrameLanes(ws);
  }

  /** Open, and heard from within `windowMs`. */
  isLive(windowMs: number, now = Date.now()): boolean {
    return this.ws.readyState === this.ws.OPEN && now - this.lastSeenAt < windowMs;
  }

  /** Drops the connection without a close handshake (a peer that went silent). */
  terminate(): void {
    this.ws.terminate();
  }

  send(msg: ServerMessage): boolean {
    if (this.ws.readyState !== this.ws.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  close(code = 1000, reason = ''): void {
    this.ws.close(code, reason);
  }

  /** Runs frame handlers one after another on the control lane, in arrival order. */
  enqueue(fn: () => Promise<void>): void {
    this.lanes.enqueueControl(fn);
  }

  /**
   * Routes a frame: heartbeats at once, log batches to the bounded data lane, `task.finished`
   * after the batches before it, the rest in order (see ./lanes.ts). Before hello everything goes
   * to the control lane (where the handler refuses it).
   */
  dispatch(type: RunnerMessage['type'], fn: () => Promise<void>): void {
    if (!this.helloDone) this.lanes.enqueueControl(fn);
    else if (type === 'heartbeat') void fn();
    else if (type === 'logs') this.lanes.enqueueData(fn);
    else if (type === 'task.finished') this.lanes.enqueueAfterData(fn);
    else this.lanes.enqueueControl(fn);
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }
}

/** The gateway's live connections by runner id, and the TCP port it listens on. */
export class GatewayLinks {
  readonly connections = new Map<string, RunnerConnection>();
  /** The gateway's TCP port (0 until it listens). */
  tcpPort = 0;

  /** Sends to a runner; false when it is not connected. */
  send(runnerId: string, msg: ServerMessage): boolean {
    return this.connections.get(runnerId)?.send(msg) ?? false;
  }

  isConnected(runnerId: string): boolean {
    return this.connections.has(runnerId);
  }
}
