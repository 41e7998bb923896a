/**
 * @module Admission and timeouts for an HTTP listener (the REST API and the runner gateway):
 * header, whole-request, idle and keep-alive timeouts, and a cap on open connections overall and
 * per client IP. A connection over a cap gets a short 503 problem+json and is closed before any
 * of its bytes are parsed, so clients that trickle headers or hold sockets open cannot pin the
 * server at its file-descriptor limit.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ListenerLimits } from '../config/limits.js';

/** Counters of one guarded listener (for health and tests). */
export interface ListenerStats {
  open: number;
  refused: number;
}

/** How long a refused socket may take to read its 503 before it is destroyed. */
const REFUSED_LINGER_MS = 2_000;

function refusal(detail: string): string {
  const body = JSON.stringify({
    type: 'https://marionette.dev/problems/too-many-connections',
    title: 'Service Unavailable',
    status: 503,
    detail,
  });
  return [
    'HTTP/1.1 503 Service Unavailable',
    'Content-Type: application/problem+json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Retry-After: 1',
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}

/**
 * Applies `limits` to `server` (call before `listen`). Returns live counters.
 *
 * The caps wrap the server's own `connection` listeners: an admitted socket reaches them as
 * before; a refused one never does.
 */
export function guardListener(server: Server, limits: ListenerLimits, name: string, log: Logger): ListenerStats {
  server.headersTimeout = limits.headerTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.setTimeout(limits.idleTimeoutMs);
  // Node checks header and request deadlines on this interval (default 30 s, read when the
  // server starts listening): check often enough that a timeout means roughly what it says.
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = Math.max(
    100,
    Math.min(1000, Math.floor(Math.min(limits.headerTimeoutMs, limits.requestTimeoutMs) / 4)),
  );

  const stats: ListenerStats = { open: 0, refused: 0 };
  const perIp = new Map<string, number>();
  let lastWarn = 0;
  const inner = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');

  const refuse = (socket: Socket, detail: string) => {
    stats.refused++;
    const now = Date.now();
    if (now - lastWarn > 10_000) {
      lastWarn = now;
      log.warn({ listener: name, open: stats.open, refused: stats.refused }, `connection refused: ${detail}`);
    }
    socket.on('error', () => {});
    socket.resume();
    socket.end(refusal(detail));
    setTimeout(() => socket.destroy(), REFUSED_LINGER_MS).unref();
  };

  server.on('connection', (socket: Socket) => {
    // A unix-socket peer has no address: it counts toward the total only.
    const ip = socket.remoteAddress ?? '';
    if (stats.open >= limits.maxConnections)
      return refuse(socket, `${name}: the server has ${stats.open} open connections (limit ${limits.maxConnections})`);
    const mine = ip ? (perIp.get(ip) ?? 0) : 0;
    if (ip && mine >= limits.maxConnectionsPerIp)
      return refuse(
        socket,
        `${name}: ${mine} connections are open from ${ip} (limit ${limits.maxConnectionsPerIp} per address)`,
      );
    stats.open++;
    if (ip) perIp.set(ip, mine + 1);
    socket.once('close', () => {
      stats.open--;
      if (!ip) return;
      const n = (perIp.get(ip) ?? 1) - 1;
      if (n <= 0) perIp.delete(ip);
      else perIp.set(ip, n);
    });
    for (const l of inner) l.call(server, socket);
  });
  return stats;
}
