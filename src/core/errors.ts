/**
 * @module The few error classes that mean something to a caller, and the helpers every
 * `catch` goes through. The HTTP layer maps each `code` to an RFC 9457 problem type; the CLI
 * prints `message` plus `hint`, never a stack.
 */

export type ErrorCode =
  | 'not_found'
  | 'conflict'
  | 'invalid_request'
  | 'unauthorized'
  | 'forbidden'
  | 'provider_unavailable'
  | 'unplaceable'
  | 'payload_too_large'
  | 'insufficient_storage'
  | 'internal';

export class MarionetteError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: ErrorCode, message: string, opts: { hint?: string; details?: Record<string, unknown> } = {}) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.hint = opts.hint;
    this.details = opts.details;
  }
}

export class NotFound extends MarionetteError {
  constructor(what: string, id: string, hint?: string) {
    super('not_found', `${what} ${JSON.stringify(id)} not found`, hint === undefined ? {} : { hint });
  }
}

/** A state transition (or other write) refused because the current state does not allow it. */
export class Conflict extends MarionetteError {
  constructor(message: string, opts: { hint?: string; details?: Record<string, unknown> } = {}) {
    super('conflict', message, opts);
  }
}

export class InvalidRequest extends MarionetteError {
  constructor(message: string, opts: { hint?: string; details?: Record<string, unknown> } = {}) {
    super('invalid_request', message, opts);
  }
}

export class Unauthorized extends MarionetteError {
  constructor(message: string, hint?: string) {
    super('unauthorized', message, hint === undefined ? {} : { hint });
  }
}

export class Forbidden extends MarionetteError {
  constructor(message: string, hint?: string) {
    super('forbidden', message, hint === undefined ? {} : { hint });
  }
}

export class ProviderUnavailable extends MarionetteError {
  constructor(message: string, opts: { hint?: string; details?: Record<string, unknown> } = {}) {
    super('provider_unavailable', message, opts);
  }
}

/** No pool can take the session; `details.verdicts` carries the reason per pool. */
export class Unplaceable extends MarionetteError {
  constructor(message: string, opts: { hint?: string; details?: Record<string, unknown> } = {}) {
    super('unplaceable', message, opts);
  }
}

/** The server cannot store anything now (disk full, or the store's writes are failing); nothing was written. */
/**
 * A write asked for a state change its state table (src/core/states.ts) does not list: a defect in
 * the caller, never a race (a compare-and-set that loses a race returns false instead).
 */
export class IllegalTransition extends MarionetteError {
  constructor(entity: string, from: readonly string[], to: string) {
    super(
      'internal',
      from.length
        ? `${entity}: no transition ${from.filter((f) => f).join(' | ')} → ${to} in the state table`
        : `${entity}: no transition leads into ${to} in the state table`,
      { details: { entity, from, to } },
    );
  }
}

export class InsufficientStorage extends MarionetteError {
  constructor(message: string, opts: { hint?: string; details?: Record<string, unknown> } = {}) {
    super('insufficient_storage', message, opts);
  }
}

/** Normalises anything thrown into an Error (for `catch (e: unknown)`). */
/**
 * For `.catch(nullIfNotFound)`: null when `e` is a NotFound, else `e` thrown again (so a failing
 * database is never mistaken for a missing row).
 */
export function nullIfNotFound(e: unknown): null {
  if (e instanceof NotFound) return null;
  throw e;
}

export function toError(e: unknown): Error {
  if (e instanceof Error) return e;
  if (typeof e === 'string') return new Error(e);
  try {
    return new Error(JSON.stringify(e));
  } catch {
    return new Error(String(e));
  }
}

/** Ends exhaustive switches: a new variant fails to compile until it is handled. */
export function assertNever(x: never, what = 'value'): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(x)}`);
}
