/**
 * @module Vercel's errors as Marionette's: every failed call to the Vercel Sandbox API becomes an
 * error whose message names what was being done, the HTTP status and Vercel's own message (a
 * refused token, a quota, a rate limit, an unknown image), so a session that fails to provision
 * carries it as its reason. Rate limits (429) are retried with backoff (Vercel's `Retry-After` when
 * it sends one) before they fail. The SDK's `APIError` is read structurally (`response.status`,
 * `json.error`), so nothing here depends on the SDK's class identity.
 */
import { InvalidRequest, MarionetteError, ProviderUnavailable, toError } from '../../core/errors.js';
import { CREDENTIAL_HINT } from './credentials.js';

interface VendorError {
  message?: string;
  response?: { status?: number; headers?: { get?(name: string): string | null } };
  json?: { error?: { code?: string; message?: string } };
}

/** The HTTP status of a failed SDK call, if the API answered. */
export function vendorStatus(e: unknown): number | undefined {
  const s = (e as VendorError | null)?.response?.status;
  return typeof s === 'number' ? s : undefined;
}

/** Vercel's error code (`not_found`, `sandbox_stopped`, ...), if it sent one. */
export function vendorCode(e: unknown): string | undefined {
  const c = (e as VendorError | null)?.json?.error?.code;
  return typeof c === 'string' ? c : undefined;
}

/** Whether a failed call says the object does not exist (404). */
export function isNotFound(e: unknown): boolean {
  return vendorStatus(e) === 404;
}

/** Vercel's own message of a failed call. */
function vendorMessage(e: unknown): string {
  const own = (e as VendorError | null)?.json?.error?.message;
  const msg = typeof own === 'string' && own ? own : toError(e).message;
  return msg.trim() || 'no message';
}

/**
 * The Marionette error for a failed Vercel call made while `what`. Auth, quota, rate limit and
 * outages are ProviderUnavailable; a request Vercel refused as bad (unknown image, bad
 * resources) is InvalidRequest.
 * @example vercelFailure(err, 'creating sandbox x').message // "Vercel refused the token (403) while creating sandbox x: Not authorized; set VERCEL_TOKEN ..."
 */
export function vercelFailure(e: unknown, what: string): Error {
  if (e instanceof MarionetteError) return e;
  const status = vendorStatus(e);
  const msg = vendorMessage(e);
  const code = vendorCode(e);
  if (status === 401 || (status === 403 && !/quota|limit|exceeded|plan/i.test(msg)))
    return new ProviderUnavailable(`Vercel refused the token (${status}) while ${what}: ${msg}; ${CREDENTIAL_HINT}`);
  if (status === 402 || status === 403)
    return new ProviderUnavailable(`Vercel refused ${what} (${status}: over the team's quota or plan): ${msg}`);
  if (status === 429)
    return new ProviderUnavailable(`Vercel rate limit (429) while ${what}, still limited after retrying: ${msg}`);
  if (status === 400 || status === 404 || status === 409 || status === 422)
    return new InvalidRequest(`Vercel refused ${what} (${status}${code ? ` ${code}` : ''}): ${msg}`);
  if (status !== undefined) return new ProviderUnavailable(`Vercel failed ${what} (${status}): ${msg}`);
  return new ProviderUnavailable(`Vercel: ${what} failed: ${msg}`);
}

/** How long to wait before retry `attempt` (1-based) of a rate-limited call: `Retry-After` if given, else 1 s, 2 s, 4 s ... capped at 30 s. */
export function retryDelayMs(e: unknown, attempt: number, baseMs = 1000): number {
  const raw = (e as VendorError | null)?.response?.headers?.get?.('retry-after');
  const secs = raw === null || raw === undefined || raw === '' ? Number.NaN : Number(raw);
  if (Number.isFinite(secs) && secs >= 0) return Math.min(secs * 1000, 30_000);
  return Math.min(baseMs * 2 ** (attempt - 1), 30_000);
}

export interface VercelRetry {
  retries: number;
  baseMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Runs `call`, retrying it up to `retries` times while Vercel answers 429, then maps any failure
 * with {@link vercelFailure}.
 */
export async function withVercel<T>(what: string, call: () => Promise<T>, opts: VercelRetry): Promise<T> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (e: unknown) {
      if (vendorStatus(e) === 429 && attempt <= opts.retries) {
        await sleep(retryDelayMs(e, attempt, opts.baseMs));
        continue;
      }
      throw vercelFailure(e, what);
    }
  }
}
