/**
 * @module E2B's errors as Marionette's: a refused key, a bad template, a quota and any other
 * vendor failure become errors whose message names what E2B said (the session's reason), and a
 * rate limit is retried with exponential backoff before it becomes one. Recognised by the SDK's
 * error class names and status codes, so this module needs no SDK import.
 */
import { InvalidRequest, MarionetteError, ProviderUnavailable, toError } from '../../core/errors.js';

export type E2bErrorKind = 'auth' | 'rate_limit' | 'not_found' | 'template' | 'quota' | 'other';

/** What kind of E2B failure `e` is. */
export function classify(e: unknown): E2bErrorKind {
  const err = toError(e);
  const status = (err as { statusCode?: unknown }).statusCode;
  switch (err.name) {
    case 'AuthenticationError':
      return 'auth';
    case 'RateLimitError':
      return 'rate_limit';
    case 'TemplateError':
      return 'template';
    case 'NotFoundError':
    case 'SandboxNotFoundError':
      return 'not_found';
  }
  if (status === 401 || status === 403)
    return /quota|limit|exceeded|maximum|concurrent/i.test(err.message) ? 'quota' : 'auth';
  if (status === 429) return 'rate_limit';
  if (status === 404) return 'not_found';
  if (status === 402) return 'quota';
  return 'other';
}

/**
 * `e` as the error a session's reason is made of, naming E2B's own message; `what` says what was
 * being done (`starting a sandbox from template "x"`).
 */
export function vendorError(e: unknown, what: string, template?: string): Error {
  if (e instanceof MarionetteError) return e;
  const msg = toError(e).message;
  switch (classify(e)) {
    case 'auth':
      return new ProviderUnavailable(`E2B refused the API key while ${what}: ${msg}`, {
        hint: 'set a valid key with `mctl credentials set e2b` or the E2B_API_KEY environment variable',
      });
    case 'template':
      return new InvalidRequest(`E2B template ${JSON.stringify(template ?? '?')} cannot run the agent: ${msg}`, {
        hint: 'rebuild the template as docs/providers/e2b.md describes',
      });
    case 'not_found':
      return template !== undefined
        ? new InvalidRequest(`E2B has no template ${JSON.stringify(template)} (${what}): ${msg}`, {
            hint: 'build it as docs/providers/e2b.md describes, or fix providers.e2b.template',
          })
        : new ProviderUnavailable(`E2B: ${what}: ${msg}`);
    case 'quota':
      return new ProviderUnavailable(`E2B quota reached while ${what}: ${msg}`);
    case 'rate_limit':
      return new ProviderUnavailable(`E2B rate limit while ${what}: ${msg}`);
    default:
      return new ProviderUnavailable(`E2B failed while ${what}: ${msg}`);
  }
}

export interface Backoff {
  /** Retries after the first attempt. */
  retries: number;
  /** First wait in ms (doubled each time, capped at `maxMs`). */
  baseMs: number;
  maxMs: number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Runs `fn`, retrying while E2B rate-limits it (waits base, 2·base, 4·base ... up to max); any
 * other error, or the last rate limit, is thrown as {@link vendorError} names it.
 * @example await withBackoff(() => api.kill(conn, id), { retries: 5, baseMs: 1000, maxMs: 30000 }, 'killing sandbox x')
 */
export async function withBackoff<T>(fn: () => Promise<T>, b: Backoff, what: string, template?: string): Promise<T> {
  const sleep = b.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (e: unknown) {
      if (classify(e) !== 'rate_limit' || attempt >= b.retries) {
        const err = vendorError(e, what, template);
        if (attempt > 0 && classify(e) === 'rate_limit') err.message += ` (gave up after ${attempt + 1} tries)`;
        throw err;
      }
      await sleep(Math.min(b.maxMs, b.baseMs * 2 ** attempt));
    }
  }
}
