/**
 * @module The `limits:` section of marionette.yaml: timeouts and connection caps on the REST API
 * and runner gateway listeners, the runner link's `hello` timeout and invalid-frame budget, and
 * the registration rate limit per token. Every default is written here and in docs/config.md.
 */
import { z } from 'zod';
import { InvalidRequest } from '../core/errors.js';
import { durationField } from './duration.js';

/** A duration (`10s`, `500ms`, or seconds) in milliseconds, at least 1 ms. */
const duration = durationField({ min: 1 });

const count = z.number().int().positive();

/** What both listeners share. */
const listenerFields = {
  /** Time to receive a request's headers; a client still sending them is closed (slowloris). */
  header_timeout: duration.optional(),
  /** Time to receive a whole request, headers and body. */
  request_timeout: duration.optional(),
  /** A socket with no traffic at all for this long is closed (not WebSockets once upgraded). */
  idle_timeout: duration.optional(),
  /** How long a kept-alive connection waits for its next request. */
  keep_alive_timeout: duration.optional(),
  /** Open connections on the listener; past it, new ones get a 503 and are closed. */
  max_connections: count.optional(),
  /** Open connections from one IP address (TCP; the unix socket counts only toward max_connections). */
  max_connections_per_ip: count.optional(),
};

export const limitsFileSchema = z.strictObject({
  api: z.strictObject(listenerFields).optional(),
  gateway: z
    .strictObject({
      ...listenerFields,
      /** A runner WebSocket that has not sent `hello` by then is closed (code 4408). */
      hello_timeout: duration.optional(),
      /** Invalid frames a runner may send within `invalid_frame_window` before it is disconnected (code 4400). */
      max_invalid_frames: count.optional(),
      invalid_frame_window: duration.optional(),
      /** Registrations one token may make per minute (steady rate); past it, 429 with Retry-After. */
      registrations_per_minute: count.optional(),
      /** Registrations one token may make at once before the per-minute rate applies. */
      registration_burst: count.optional(),
    })
    .optional(),
});

export type LimitsFileConfig = z.infer<typeof limitsFileSchema>;

export interface ListenerLimits {
  headerTimeoutMs: number;
  requestTimeoutMs: number;
  idleTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxConnections: number;
  maxConnectionsPerIp: number;
}

export interface GatewayLimits extends ListenerLimits {
  helloTimeoutMs: number;
  maxInvalidFrames: number;
  invalidFrameWindowMs: number;
  registrationsPerMinute: number;
  registrationBurst: number;
}

export interface LimitsConfig {
  api: ListenerLimits;
  gateway: GatewayLimits;
}

/** The defaults (docs/config.md lists the same). */
export const DEFAULT_LIMITS: LimitsConfig = {
  api: {
    headerTimeoutMs: 10_000,
    requestTimeoutMs: 60_000,
    idleTimeoutMs: 120_000,
    keepAliveTimeoutMs: 5_000,
    maxConnections: 2048,
    maxConnectionsPerIp: 512,
  },
  gateway: {
    headerTimeoutMs: 10_000,
    requestTimeoutMs: 30_000,
    idleTimeoutMs: 60_000,
    keepAliveTimeoutMs: 5_000,
    maxConnections: 8192,
    maxConnectionsPerIp: 2048,
    helloTimeoutMs: 10_000,
    maxInvalidFrames: 20,
    invalidFrameWindowMs: 60_000,
    registrationsPerMinute: 120,
    registrationBurst: 30,
  },
};

function listener(
  file: z.infer<z.ZodObject<typeof listenerFields>> | undefined,
  d: ListenerLimits,
  where: string,
): ListenerLimits {
  const out: ListenerLimits = {
    headerTimeoutMs: file?.header_timeout ?? d.headerTimeoutMs,
    requestTimeoutMs: file?.request_timeout ?? d.requestTimeoutMs,
    idleTimeoutMs: file?.idle_timeout ?? d.idleTimeoutMs,
    keepAliveTimeoutMs: file?.keep_alive_timeout ?? d.keepAliveTimeoutMs,
    maxConnections: file?.max_connections ?? d.maxConnections,
    maxConnectionsPerIp: file?.max_connections_per_ip ?? d.maxConnectionsPerIp,
  };
  // Node refuses a header timeout longer than the request timeout.
  if (out.headerTimeoutMs > out.requestTimeoutMs)
    throw new InvalidRequest(`${where}.header_timeout must not be longer than ${where}.request_timeout`);
  if (out.maxConnectionsPerIp > out.maxConnections) out.maxConnectionsPerIp = out.maxConnections;
  return out;
}

/**
 * Resolves `limits:` over the defaults. Throws InvalidRequest naming the key when two values contradict.
 * @example resolveLimits({ gateway: { hello_timeout: 2000 } }).gateway.helloTimeoutMs === 2000
 */
export function resolveLimits(file: LimitsFileConfig | undefined): LimitsConfig {
  const g = file?.gateway;
  const d = DEFAULT_LIMITS.gateway;
  return {
    api: listener(file?.api, DEFAULT_LIMITS.api, 'limits.api'),
    gateway: {
      ...listener(g, d, 'limits.gateway'),
      helloTimeoutMs: g?.hello_timeout ?? d.helloTimeoutMs,
      maxInvalidFrames: g?.max_invalid_frames ?? d.maxInvalidFrames,
      invalidFrameWindowMs: g?.invalid_frame_window ?? d.invalidFrameWindowMs,
      registrationsPerMinute: g?.registrations_per_minute ?? d.registrationsPerMinute,
      registrationBurst: g?.registration_burst ?? d.registrationBurst,
    },
  };
}
