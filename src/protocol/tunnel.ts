/**
 * @module The tunnel transport, shared by the server (src/server/tunnel-dialer.ts) and the agent
 * (src/agent/tunnel-listen.ts): for a sandbox that cannot reach the gateway (a server behind NAT),
 * the agent listens on a port the provider exposes (E2B's sandbox host, Daytona's preview link) and
 * the server dials it. Each tunnel connection is one WebSocket carrying one byte stream between the
 * agent and the gateway, so the runner protocol, registration and workspace transfers run over it
 * unchanged (leases, acks, log resume and reconnect behave exactly as with dial-in).
 *
 * A connection, in order:
 * 1. agent → server, text: `{"t":"challenge","v":1,"nonce":"<32 random bytes, hex>"}`
 * 2. server → agent, text: `{"t":"proof","proofs":["<hex>", ...]}`: HMAC-SHA256 of
 *    `server:<nonce>` under the runner's tunnel secret, one per key the server holds (rotation).
 * 3. agent → server, text: `{"t":"ready"}` when a proof matches, else the agent closes with
 *    {@link TUNNEL_CLOSE_REFUSED} and nothing else is ever said on that connection.
 * 4. Idle until the agent needs a stream to the gateway: agent → server, text `{"t":"open"}`; from
 *    then on binary frames both ways are the stream's bytes; a close on either side ends it.
 *
 * The tunnel secret never crosses the wire: the provider hands it to the agent in its environment
 * (`MARIONETTE_TUNNEL_SECRET`) when it starts the sandbox, and the server derives it again from its
 * at-rest key and the runner id whenever it dials (so a restarted server dials with the same one).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const TUNNEL_VERSION = 1;
/** Close code of a tunnel connection whose proof did not match (a wrong or missing secret). */
export const TUNNEL_CLOSE_REFUSED = 4401;
/** Close code of a tunnel connection that said something out of order. */
export const TUNNEL_CLOSE_PROTOCOL = 4400;
/** The WebSocket subprotocol both ends name, so a tunnel port answers nothing else. */
export const TUNNEL_SUBPROTOCOL = 'marionette-tunnel.v1';

export type TunnelFrame =
  | { t: 'challenge'; v: number; nonce: string }
  | { t: 'proof'; proofs: string[] }
  | { t: 'ready' }
  | { t: 'open' };

/** Parses one text frame of the handshake; null when it is not one. */
export function parseTunnelFrame(text: string): TunnelFrame | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  switch (o.t) {
    case 'challenge':
      return typeof o.nonce === 'string' && /^[0-9a-f]{64}$/.test(o.nonce) && typeof o.v === 'number'
        ? { t: 'challenge', v: o.v, nonce: o.nonce }
        : null;
    case 'proof':
      return Array.isArray(o.proofs) && o.proofs.length <= 8 && o.proofs.every((p) => typeof p === 'string')
        ? { t: 'proof', proofs: o.proofs as string[] }
        : null;
    case 'ready':
    case 'open':
      return { t: o.t };
    default:
      return null;
  }
}

/** The server's proof for `nonce` under `secret`. */
export function tunnelProof(secret: string, nonce: string): string {
  return createHmac('sha256', secret).update(`server:${nonce}`).digest('hex');
}

/** Whether one of `proofs` is the proof of `nonce` under `secret` (compared in constant time). */
export function tunnelProofMatches(secret: string, nonce: string, proofs: readonly string[]): boolean {
  const want = Buffer.from(tunnelProof(secret, nonce), 'hex');
  let ok = false;
  for (const p of proofs) {
    const got = Buffer.from(p, 'hex');
    if (got.length === want.length && timingSafeEqual(got, want)) ok = true;
  }
  return ok;
}

/** The environment variables of a listening agent (set by a provider through `tunnelEnv`). */
export const TUNNEL_ENV = { listen: 'MARIONETTE_LISTEN', secret: 'MARIONETTE_TUNNEL_SECRET' } as const;
