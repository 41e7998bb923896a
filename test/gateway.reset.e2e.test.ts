/**
 * A runner that dies in the middle of its WebSocket upgrade (its connection reset while the
 * server is still checking its credential, or just after it answered) must not take the server
 * down. CI caught this at a restart: the reconciler killed an orphaned agent that had just dialled
 * the gateway's unix socket, and the reset reached a socket no one listened to for errors.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerHandle, startServer } from './harness.js';

let srv: ServerHandle;
beforeAll(async () => {
  srv = await startServer();
});
afterAll(async () => {
  await srv?.destroy();
});

const UPGRADE = (host: string) =>
  'GET /v1/connect HTTP/1.1\r\n' +
  `Host: ${host}\r\n` +
  'Connection: Upgrade\r\nUpgrade: websocket\r\n' +
  'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
  'Authorization: Bearer mrc_not_a_real_credential_0123456789\r\n\r\n';

/**
 * Sends an upgrade request, then drops the connection after `delayMs` (0: at once): a TCP reset,
 * or for a unix socket (which has no reset) a close with the server's answer unread.
 */
function upgradeThenReset(connect: () => net.Socket, delayMs: number, tcp = true): Promise<void> {
  return new Promise((resolve) => {
    const s = connect();
    s.on('error', () => resolve());
    s.on('close', () => resolve());
    s.on('connect', () => {
      s.write(UPGRADE('127.0.0.1'));
      const reset = () => (tcp ? s.resetAndDestroy() : s.destroy());
      if (delayMs === 0) setImmediate(reset);
      else setTimeout(reset, delayMs);
    });
  });
}

describe('the gateway when a runner resets its connection mid-upgrade', () => {
  it('keeps serving: 120 resets over TCP at varied moments, and 40 over the unix socket', async () => {
    const delays = [0, 0, 1, 2, 5, 10];
    for (let i = 0; i < 120; i += 6) {
      await Promise.all(delays.map((d) => upgradeThenReset(() => net.connect(srv.gatewayPort, '127.0.0.1'), d)));
    }
    for (let i = 0; i < 40; i += 4) {
      // A unix socket peer that closes with our answer unread is what a SIGKILLed agent leaves.
      await Promise.all([0, 1, 3, 8].map((d) => upgradeThenReset(() => net.connect(srv.gatewaySocket), d, false)));
    }
    expect(srv.proc.exitCode, 'the server process exited').toBeNull();
    const r = await srv.api('GET', '/v1/pools');
    expect(r.status).toBe(200);
    // And a runner's refusal is still answered over a fresh connection.
    const answer = await new Promise<string>((resolve, reject) => {
      const s = net.connect(srv.gatewayPort, '127.0.0.1', () => s.write(UPGRADE('127.0.0.1')));
      let data = '';
      s.on('data', (b) => {
        data += b.toString();
      });
      s.on('close', () => resolve(data));
      s.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 401 /);
  });
});
