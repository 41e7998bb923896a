/**
 * @module The one zod type for every duration field of the configuration (marionette.yaml, the
 * agent's config file, provider sections): a bare number means seconds, a string may carry a unit
 * (`250ms`, `30s`, `5m`, `24h`, `1d`; no unit is seconds too). Parsed to milliseconds by
 * `parseDuration` (src/core/duration.ts), so the server, the agent and the API read `300` alike.
 */
import { z } from 'zod';
import { parseDuration } from '../core/duration.js';

/**
 * A duration field, parsed to milliseconds. `min` (ms) rejects shorter values with a message
 * saying so; the default accepts zero.
 * @example durationField().parse(300) === 300_000; durationField().parse('5m') === 300_000
 */
export function durationField(opts: { min?: number } = {}) {
  const min = opts.min ?? 0;
  return z.union([z.string(), z.number()]).transform((v, ctx) => {
    const ms = parseDuration(v);
    if (ms === null || ms < min) {
      ctx.addIssue({
        code: 'custom',
        message: `invalid duration ${JSON.stringify(v)} (expected ${min > 0 ? 'a positive duration: ' : ''}a number of seconds, or a number with a unit ms, s, m, h or d, e.g. 300, 500ms, 30s, 5m, 24h)`,
      });
      return z.NEVER;
    }
    return ms;
  });
}

/** A duration of zero or more, in milliseconds. */
export const duration = durationField();
