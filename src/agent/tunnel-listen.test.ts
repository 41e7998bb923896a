/**
 * The agent's listen mode on real sockets: a connection that proves the tunnel secret is relayed
 * byte for byte to what the agent opens on its relay socket; a wrong proof, a garbled or empty one, or no
 * subprotocol is refused and never relayed; the config refuses a bad port or a missing secret.
 */
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { createWebSocketStream } from 'ws';
import { loadAgentConfig } from '../config/agent.js';
import { TUNNEL_CLOSE_REFUSED, TUNNEL_SUBPROTOCOL, tunnelProof } from '../protocol/tunnel.js';
import { TunnelListener } from './tunnel-listen.js';

const SECRET = 'a'.repeat(64);
let listener: TunnelListener | null = null;
const logs: string[] = [];

afterEach(async () => {
  await listener?.close();
  listener = null;
  logs.length = 0;
});

async function listen(): Promise<TunnelListener> {
  listener = await TunnelListener.start({
    port: 0,
    host: '127.0.0.1',
    secret: SECRET,
    log: (m) => logs.push(m),
    waitMs: 5000,
  });
  return listener;
}

/** Dials the listener as the server would, proving with `secret`; resolves with the socket and how it ended up. */
function dial(port: number, secret: string, frame?: (nonce: string) => string) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, TUNNEL_SUBPROTOCOL);
  const said: string[] = [];
  const state = new Promise<'ready' | number>((resolve) => {
    ws.on('message', (d) => {
      const f = JSON.parse(d.toString()) as { t: string; nonce?: string };
      said.push(f.t);
      if (f.t === 'challenge')
        ws.send(frame ? frame(f.nonce!) : JSON.stringify({ t: 'proof', proofs: [tunnelProof(secret, f.nonce!)] }));
      if (f.t === 'ready') resolve('ready');
    });
    ws.on('close', (code) => resolve(code));
  });
  return { ws, said, state };
}

describe('marionette-agent --listen', () => {
  it('relays the bytes of a connection the agent opens over a proven tunnel connection, both ways', async () => {
    const l = await listen();
    const d = dial(l.port, SECRET);
    expect(await d.state).toBe('ready');
    // The agent opens a "gateway" connection on its relay socket.
    const sock = connect(l.gatewayAddress.slice('unix:'.length));
    const opened = new Promise<void>((resolve) => {
      d.ws.once('message', (m) => {
        expect(JSON.parse(m.toString())).toEqual({ t: 'open' });
        resolve();
      });
    });
    await opened;
    d.ws.removeAllListeners('message');
    const stream = createWebSocketStream(d.ws);
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    const got: Buffer[] = [];
    stream.on('data', (b: Buffer) => got.push(b));
    sock.write(big);
    await new Promise<void>((r) => {
      const check = () => (Buffer.concat(got).length >= big.length ? r() : setTimeout(check, 20));
      check();
    });
    expect(Buffer.concat(got).equals(big)).toBe(true);
    const back: Buffer[] = [];
    sock.on('data', (b: Buffer) => back.push(b));
    stream.write('pong');
    await new Promise<void>((r) => {
      const check = () => (Buffer.concat(back).toString() === 'pong' ? r() : setTimeout(check, 20));
      check();
    });
    // The tunnel ends: so does the agent's connection.
    const closed = new Promise<void>((r) => sock.on('close', () => r()));
    d.ws.terminate();
    await closed;
  });

  it('refuses a wrong secret, a garbled proof and an empty one, relaying nothing', async () => {
    const l = await listen();
    const wrong = dial(l.port, 'b'.repeat(64));
    expect(await wrong.state).toBe(TUNNEL_CLOSE_REFUSED);
    expect(wrong.said).toEqual(['challenge']);
    const garbled = dial(l.port, SECRET, () => '{"t":"proof","proofs":"nope"}');
    expect(await garbled.state).toBe(TUNNEL_CLOSE_REFUSED);
    const empty = dial(l.port, SECRET, () => JSON.stringify({ t: 'proof', proofs: [] }));
    expect(await empty.state).toBe(TUNNEL_CLOSE_REFUSED);
    expect(logs.filter((m) => m.includes('wrong tunnel credential'))).toHaveLength(3);
    // None of them was kept: a gateway connection the agent opens waits for a proven one.
    const sock = connect(l.gatewayAddress.slice('unix:'.length));
    const good = dial(l.port, SECRET);
    expect(await good.state).toBe('ready');
    // The waiting connection takes it at once: `open` follows `ready`.
    await new Promise<void>((r) => {
      const check = () => (good.said.includes('open') ? r() : setTimeout(check, 20));
      check();
    });
    expect(good.said).toEqual(['challenge', 'ready', 'open']);
    sock.destroy();
  });

  it('refuses an upgrade without the tunnel subprotocol', async () => {
    const l = await listen();
    const ws = new WebSocket(`ws://127.0.0.1:${l.port}/`);
    const outcome = await new Promise<string>((r) => {
      ws.on('open', () => r('open'));
      ws.on('error', (e) => r(e.message));
    });
    expect(outcome).toMatch(/401|400/);
  });

  it('config: a bad port or a missing or short secret is a clear error; the gateway is then not needed', () => {
    expect(() => loadAgentConfig({ listen: '99999' }, { MARIONETTE_TUNNEL_SECRET: SECRET })).toThrow(
      /--listen "99999": expected a port number from 1 to 65535/,
    );
    expect(() => loadAgentConfig({ listen: '4000' }, {})).toThrow(/MARIONETTE_TUNNEL_SECRET is missing/);
    expect(() => loadAgentConfig({}, { MARIONETTE_LISTEN: '4000', MARIONETTE_TUNNEL_SECRET: 'short' })).toThrow(
      /shorter than 32/,
    );
    const c = loadAgentConfig({}, { MARIONETTE_LISTEN: '4000', MARIONETTE_TUNNEL_SECRET: SECRET });
    expect(c.listen).toEqual({ port: 4000, secret: SECRET });
  });
});
