/**
 * @module Limits every REST input shares, checked before anything reaches the store, so bad input
 * is a 400 naming the field on both databases instead of a 500 on one of them:
 *
 * - No string (path parameter, query value, JSON body value or key) may hold a NUL byte: no id,
 *   name or text the API stores can hold one (PostgreSQL `text` refuses it), and a prompt or an
 *   env value becomes a process argument or environment, which cannot hold one either.
 * - Durations (token expiry and grace, idle timeouts, suspend durations) are at most
 *   `MAX_DURATION_MS` (3650 days), so `now + duration` stays a finite, exact integer.
 * - Integers stored in 32-bit columns (priorities, runner counts) have documented ranges.
 */
import { formatDuration, parseDuration } from '../core/duration.js';
import { InvalidRequest } from '../core/errors.js';

/** The longest duration any API field takes: 3650 days (about 10 years). */
export const MAX_DURATION_MS = 3650 * 86_400_000;

/** Pool priority range (sessions use the same one). */
export const PRIORITY_RANGE = { min: -1000, max: 1000 } as const;
/** Range of a pool's `min_runners` and `max_runners`. */
export const RUNNER_COUNT_RANGE = { min: 0, max: 10_000 } as const;

/**
 * Parses a duration field (`30s`, `10m`, `24h`, `7d`, or seconds) into milliseconds.
 * Throws InvalidRequest naming `field` and the allowed range when it is not a duration or is out of range.
 * @example boundedDuration('24h', 'expiresIn') === 86_400_000
 */
export function boundedDuration(v: string | number, field: string, maxMs = MAX_DURATION_MS): number {
  const ms = parseDuration(v);
  const range = `0 to ${formatDuration(maxMs)} (${maxMs / 1000} seconds)`;
  if (ms === null)
    throw new InvalidRequest(`${field}: ${JSON.stringify(v)} is not a duration (e.g. 30s, 10m, 24h, 7d, or seconds)`);
  if (!Number.isSafeInteger(ms) || ms > maxMs)
    throw new InvalidRequest(`${field}: ${JSON.stringify(v)} is out of range; a duration here is ${range}`);
  return ms;
}

/** Returns `v` when it is an integer in [min, max]; throws InvalidRequest naming `field` and the range otherwise. */
export function intInRange(v: number, field: string, range: { min: number; max: number }): number {
  if (!Number.isInteger(v) || v < range.min || v > range.max)
    throw new InvalidRequest(`${field}: ${v} is out of range; it is an integer from ${range.min} to ${range.max}`);
  return v;
}

/**
 * The path (`env.FOO`, `command[2]`) of the first string in `value` holding a NUL byte, as a key
 * or a value; null when there is none. Walks with its own stack, so no nesting depth can overflow
 * the call stack.
 */
export function findNul(value: unknown): string | null {
  const todo: [unknown, string][] = [[value, '']];
  for (let next = todo.pop(); next; next = todo.pop()) {
    const [v, path] = next;
    if (typeof v === 'string') {
      if (v.includes('\0')) return path;
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) todo.push([v[i], `${path}[${i}]`]);
    } else if (v !== null && typeof v === 'object') {
      const entries = Object.entries(v);
      for (const [k] of entries) if (k.includes('\0')) return `${path ? `${path}.` : ''}${JSON.stringify(k)} (a key)`;
      for (let i = entries.length - 1; i >= 0; i--) {
        const [k, x] = entries[i]!;
        todo.push([x, path ? `${path}.${k}` : k]);
      }
    }
  }
  return null;
}

/** Throws InvalidRequest naming the field when any string in `value` holds a NUL byte. */
export function rejectNul(where: 'path' | 'query' | 'body', value: unknown): void {
  const at = findNul(value);
  if (at === null) return;
  throw new InvalidRequest(
    `${where}${at ? `: ${at}` : ''} contains a NUL byte (\\u0000); no id, name, prompt or value the API takes can hold one`,
    where === 'body' ? { hint: 'a process argument or environment value cannot hold a NUL byte either' } : {},
  );
}
