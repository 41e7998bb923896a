/**
 * @module Daytona's errors as Marionette's: every failure of a call to the Daytona API becomes an
 * error whose message names what was being done, the HTTP status and Daytona's own message
 * (refused API key, quota, rate limit, unknown snapshot), so a session that fails to provision
 * carries that as its reason. Rate limits (429) are retried with backoff (Daytona's `Retry-After`
 * when it sends one) before they fail. The SDK's error classes are read structurally
 * (`statusCode`, `name`, `headers`), so nothing here depends on the SDK's class identity.
 */
import { InvalidRequest, ProviderUnavailable, toError } from '../../core/errors.js';
import { CREDENTIAL_HINT } from './credentials.js';

interface VendorError {
  name?: string;
  message: string;
  statusCode?: number;
  headers?: Record<string, unknown>;
}

/** The HTTP status of a failed SDK call, if the API answered. */
export function vendorStatus(e: unknown): number | undefined {
  const s = (e as VendorError | null)?.statusCode;
  return typeof s === 'number' ? s : undefined;
}

/** Whether a failed call says the object does not exist (404). */
export function isNotFound(e: unknown): boolean {
  return vendorStatus(e) === 404 || (e as VendorError | null)?.name === 'DaytonaNotFoundError';
}

/**
 * The Marionette error for a failed Daytona call made while `what` (e.g. `creating a sandbox from
 * snapshot "marionette-agent"`). Auth, quota, rate limit and outages are ProviderUnavailable; a
 * request Daytona refused as bad (unknown snapshot, bad resources) is InvalidRequest.
 * @example daytonaFailure(err, 'creating a sandbox').message // "Daytona refused the API key (401) while creating a sandbox: Invalid API key; set DAYTONA_API_KEY ..."
 */
export function daytonaFailure(e: unknown, what: string, apiUrl?: string): Error {
  const err = toError(e);
  const status = vendorStatus(e);
  const msg = err.message.trim() || 'no message';
  const name = (e as VendorError | null)?.name ?? '';
  if (status === 401)
    return new ProviderUnavailable(`Daytona refused the API key (401) while ${what}: ${msg}; ${CREDENTIAL_HINT}`);
  if (status === 403)
    return new ProviderUnavailable(`Daytona refused ${what} (403: forbidden or over the organization's quota): ${msg}`);
  if (status === 429)
    return new ProviderUnavailable(`Daytona rate limit (429) while ${what}, still limited after retrying: ${msg}`);
  if (status === 400 || status === 404 || status === 409 || status === 422)
    return new InvalidRequest(`Daytona refused ${what} (${status}): ${msg}`);
  if (status !== undefined) return new ProviderUnavailable(`Daytona failed ${what} (${status}): ${msg}`);
  if (name.startsWith('DaytonaConnection'))
    return new ProviderUnavailable(`Daytona API unreachable${apiUrl ? ` at ${apiUrl}` : ''} while ${what}: ${msg}`);
  return new ProviderUnavailable(`Daytona: ${what} failed: ${msg}`);
}

/** How long to wait before retry `attempt` (1-based) of a rate-limited call: `Retry-After` if given, else 1 s, 2 s, 4 s ... capped at 30 s. */
export function retryDelayMs(e: unknown, attempt: number): number {
  const h = (e as VendorError | null)?.headers;
  const raw = h?.['retry-after'] ?? h?.['Retry-After'];
  const secs = typeof raw === 'string' || typeof raw === 'number' ? Number(raw) : Number.NaN;
  if (Number.isFinite(secs) && secs >= 0) return Math.min(secs * 1000, 30_000);
  return Math.min(1000 * 2 ** (attempt - 1), 30_000);
}

/**
 * Runs `call`, retrying it up to `retries` times while Daytona answers 429, then maps any failure
 * with {@link daytonaFailure}.
 */
export async function withDaytona<T>(
  what: string,
  call: () => Promise<T>,
  opts: { retries: number; apiUrl?: string; sleep?: (ms: number) => Promise<void> },
): Promise<T> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (e: unknown) {
      if (vendorStatus(e) === 429 && attempt <= opts.retries) {
        await sleep(retryDelayMs(e, attempt));
        continue;
      }
      throw daytonaFailure(e, what, opts.apiUrl);
    }
  }
}
