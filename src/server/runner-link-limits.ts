/**
 * @module Limits on the runner link that sit outside frame handling: the `hello` deadline (a
 * WebSocket that never says hello is closed), the invalid-frame budget per connection (a runner
 * that keeps sending frames the protocol cannot parse is disconnected with a code and reason the
 * agent logs), and the registration rate limit per token (a token bucket, 429 with Retry-After).
 */
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import type { GatewayLimits } from '../config/limits.js';
import { hashSecret } from '../core/ids.js';

/** Close code: no `hello` arrived within `limits.gateway.hello_timeout`. */
export const CLOSE_HELLO_TIMEOUT = 4408;
/** Close code: more than `limits.gateway.max_invalid_frames` invalid frames within the window. */
export const CLOSE_INVALID_FRAMES = 4400;

interface LinkState {
  hello: boolean;
  timer: NodeJS.Timeout | null;
  /** Arrival times of the invalid frames still inside the window. */
  invalid: number[];
}

export class RunnerLinkLimits {
  private readonly links = new WeakMap<WebSocket, LinkState>();
  readonly registrations: TokenRateLimiter;

  constructor(
    private readonly limits: GatewayLimits,
    private readonly log: Logger,
  ) {
    this.registrations = new TokenRateLimiter(limits.registrationsPerMinute, limits.registrationBurst);
  }

  /** Takes one registration for `token`: null when allowed, else the 429 body (its Retry-After too). */
  registrationRefused(token: string): { code: 'rate_limited'; message: string; retryAfterSeconds: number } | null {
    const waitMs = this.registrations.take(token);
    if (waitMs === null) return null;
    const { perMinute, burst } = this.registrations;
    const retryAfterSeconds = Math.max(1, Math.ceil(waitMs / 1000));
    return {
      code: 'rate_limited',
      message: `too many registrations with this token (limit ${perMinute}/min, burst ${burst}); retry in ${retryAfterSeconds}s`,
      retryAfterSeconds,
    };
  }

  private state(ws: WebSocket): LinkState {
    let s = this.links.get(ws);
    if (!s) {
      s = { hello: false, timer: null, invalid: [] };
      this.links.set(ws, s);
    }
    return s;
  }

  /** Starts the hello clock of a new connection. */
  opened(ws: WebSocket, runnerId: string): void {
    const s = this.state(ws);
    const seconds = this.limits.helloTimeoutMs / 1000;
    s.timer = setTimeout(() => {
      s.timer = null;
      if (s.hello || ws.readyState !== ws.OPEN) return;
      this.log.warn({ runnerId }, `runner sent no hello within ${seconds}s; closing its connection`);
      ws.close(CLOSE_HELLO_TIMEOUT, `no hello within ${seconds}s`);
      // A peer that ignores the close handshake is cut off.
      setTimeout(() => ws.terminate(), 2_000).unref();
    }, this.limits.helloTimeoutMs);
    s.timer.unref();
    ws.once('close', () => {
      if (s.timer) clearTimeout(s.timer);
      s.timer = null;
    });
  }

  /** A `hello` frame arrived (whatever its handler then decides). */
  helloReceived(ws: WebSocket): void {
    const s = this.state(ws);
    s.hello = true;
    if (s.timer) clearTimeout(s.timer);
    s.timer = null;
  }

  /**
   * Counts one invalid frame; past the budget the connection is closed (code 4400, the reason
   * names the limit and the last error) and this returns true: drop the frame without answering.
   */
  invalidFrame(ws: WebSocket, runnerId: string, error: string): boolean {
    const s = this.state(ws);
    const now = Date.now();
    const from = now - this.limits.invalidFrameWindowMs;
    while (s.invalid.length && s.invalid[0]! <= from) s.invalid.shift();
    s.invalid.push(now);
    if (s.invalid.length <= this.limits.maxInvalidFrames) return false;
    if (ws.readyState !== ws.OPEN) return true;
    const reason = `too many invalid frames (over ${this.limits.maxInvalidFrames} in ${this.limits.invalidFrameWindowMs / 1000}s)`;
    this.log.warn({ runnerId, lastError: error.slice(0, 200) }, `runner disconnected: ${reason}`);
    ws.close(CLOSE_INVALID_FRAMES, reason);
    setTimeout(() => ws.terminate(), 2_000).unref();
    return true;
  }
}

/**
 * A token bucket per registration token (keyed by its hash): `burst` registrations at once, then
 * `perMinute` a minute. Buckets that have refilled are forgotten, so the map stays small.
 */
export class TokenRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    readonly perMinute: number,
    readonly burst: number,
  ) {}

  /** Takes one registration for `token`; `null` when allowed, else the milliseconds until one is. */
  take(token: string, now = Date.now()): number | null {
    const key = hashSecret(token);
    const ratePerMs = this.perMinute / 60_000;
    const b = this.buckets.get(key) ?? { tokens: this.burst, at: now };
    b.tokens = Math.min(this.burst, b.tokens + (now - b.at) * ratePerMs);
    b.at = now;
    if (this.buckets.size > 10_000) this.sweep(now);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      this.buckets.set(key, b);
      return null;
    }
    this.buckets.set(key, b);
    return Math.ceil((1 - b.tokens) / ratePerMs);
  }

  private sweep(now: number): void {
    const full = this.burst / (this.perMinute / 60_000);
    for (const [k, b] of this.buckets) if (now - b.at >= full) this.buckets.delete(k);
  }
}
