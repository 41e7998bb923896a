/**
 * The listener guard on a real HTTP server: the per-address cap and the overall cap each refuse
 * with a 503 naming the limit, a unix-socket peer counts only toward the overall cap, and a
 * closed connection frees its place.
 */
import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../config/limits.js';
import { guardListener } from './listener-guard.js';

const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

function serve(maxConnections: number, maxConnectionsPerIp: number, path?: string) {
  const server = createServer((_req, res) => res.end('ok'));
  servers.push(server);
  const stats = guardListener(
    server,
    { ...DEFAULT_LIMITS.api, maxConnections, maxConnectionsPerIp },
    'test',
    pino({ level: 'silent' }),
  );
  return new Promise<{ server: Server; stats: typeof stats; target: { port: number } | { path: string } }>(
    (resolve) => {
      if (path) server.listen(path, () => resolve({ server, stats, target: { path } }));
      else
        server.listen(0, '127.0.0.1', () =>
          resolve({ server, stats, target: { port: (server.address() as { port: number }).port } }),
        );
    },
  );
}

/** Opens `n` connections; returns what each received within a moment (empty: admitted, still open). */
async function open(target: { port: number } | { path: string }, n: number): Promise<string[]> {
  const texts = Array.from({ length: n }, () => '');
  await Promise.all(
    texts.map(
      (_, i) =>
        new Promise<void>((resolve) => {
          const s = 'port' in target ? connect(target.port, '127.0.0.1', resolve) : connect(target.path, resolve);
          sockets.push(s);
          s.on('data', (c: Buffer) => {
            texts[i] += c.toString();
          });
          s.on('error', () => {});
        }),
    ),
  );
  await sleep(200);
  return texts;
}

describe('guardListener', () => {
  it('refuses past the per-address cap, naming it', async () => {
    const { target, stats } = await serve(100, 5);
    const texts = await open(target, 8);
    const refused = texts.filter((t) => t.startsWith('HTTP/1.1 503'));
    expect(refused).toHaveLength(3);
    expect(refused[0]).toContain('5 connections are open from 127.0.0.1 (limit 5 per address)');
    expect(stats).toMatchObject({ open: 5, refused: 3 });
  });

  it('refuses past the overall cap; a unix-socket peer has no per-address cap; a closed connection frees its place', async () => {
    const path = join(tmpdir(), `marionette-guard-${process.pid}-${Date.now()}.sock`);
    const { target, stats } = await serve(6, 1, path);
    const texts = await open(target, 8);
    const refused = texts.filter((t) => t.startsWith('HTTP/1.1 503'));
    expect(refused).toHaveLength(2);
    expect(refused[0]).toContain('the server has 6 open connections (limit 6)');
    expect(refused[0]).toContain('application/problem+json');
    for (const s of sockets.splice(0)) s.destroy();
    await sleep(100);
    expect(stats.open).toBe(0);
    expect((await open(target, 1))[0]).toBe('');
  });
});
