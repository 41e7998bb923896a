/**
 * The runner's store client sends a request again when it went out on a kept-alive connection the
 * gateway had closed meanwhile (the server's keep-alive timeout): a real HTTP server on a unix
 * socket that drops the second request of every connection without answering, as a server does
 * when it closes an idle connection just as a request arrives. A request that fails on a fresh
 * connection is not retried.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { GatewayChunks } from './gateway-chunks.js';
import { parseServerAddress } from './gateway-client.js';

let tmp: string;
let server: Server;
let requests = 0;
let dropAll = false;

beforeEach(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'mrn-chunks-retry-'));
  requests = 0;
  dropAll = false;
  const seen = new WeakMap<object, number>();
  server = createServer((req, res) => {
    requests++;
    const n = (seen.get(req.socket) ?? 0) + 1;
    seen.set(req.socket, n);
    req.resume();
    if (dropAll || n >= 2) {
      req.socket.destroy(); // closed without an answer
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ present: [true] }));
  });
  await new Promise<void>((r) => server.listen(join(tmp, 'gw.sock'), r));
});
afterEach(async () => {
  await new Promise((r) => server.close(r));
  server.closeAllConnections();
  rmSync(tmp, { recursive: true, force: true });
});

it('sends a request again when its kept-alive connection was closed by the server', async () => {
  const chunks = new GatewayChunks(parseServerAddress(`unix:${join(tmp, 'gw.sock')}`), () => 'mrc_test');
  try {
    const id = 'a'.repeat(64);
    expect(await chunks.has([id])).toEqual([true]);
    // The second request reuses the kept-alive connection, which the server drops: sent again.
    expect(await chunks.has([id])).toEqual([true]);
    expect(await chunks.has([id])).toEqual([true]);
    expect(requests).toBe(5);
    // A failure on a fresh connection is the gateway's answer: no retry.
    chunks.close();
    dropAll = true;
    requests = 0;
    await expect(chunks.has([id])).rejects.toThrow(/socket hang up/);
    expect(requests).toBe(1);
  } finally {
    chunks.close();
  }
});
