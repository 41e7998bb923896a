/**
 * @module Maps errors to RFC 9457 problem+json with a stable `type` per error code.
 */
import { assertNever, type ErrorCode, MarionetteError } from '../core/errors.js';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  hint?: string;
  [extra: string]: unknown;
}

export const PROBLEM_BASE = 'https://marionette.dev/problems/';

function statusOf(code: ErrorCode): { status: number; title: string } {
  switch (code) {
    case 'not_found':
      return { status: 404, title: 'Not Found' };
    case 'conflict':
      return { status: 409, title: 'Conflict' };
    case 'invalid_request':
      return { status: 400, title: 'Invalid Request' };
    case 'unauthorized':
      return { status: 401, title: 'Unauthorized' };
    case 'forbidden':
      return { status: 403, title: 'Forbidden' };
    case 'provider_unavailable':
      return { status: 503, title: 'Provider Unavailable' };
    case 'unplaceable':
      return { status: 422, title: 'Unplaceable' };
    case 'payload_too_large':
      return { status: 413, title: 'Payload Too Large' };
    case 'insufficient_storage':
      return { status: 507, title: 'Insufficient Storage' };
    case 'internal':
      return { status: 500, title: 'Internal Server Error' };
    default:
      return assertNever(code, 'error code');
  }
}

export function problemFor(e: MarionetteError, instance?: string): Problem {
  const { status, title } = statusOf(e.code);
  return {
    type: `${PROBLEM_BASE}${e.code.replace(/_/g, '-')}`,
    title,
    status,
    detail: e.message,
    ...(e.hint ? { hint: e.hint } : {}),
    ...(instance ? { instance } : {}),
    ...(e.details ?? {}),
  };
}

export { MarionetteError };
