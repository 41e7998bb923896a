/**
 * @module Identifiers and secrets: prefixed random ids (`ses_...`), tokens, and their hashes.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

/**
 * An id with a type prefix, ordered by creation time: 9 base-36 digits of the millisecond clock,
 * then 12 random ones, e.g. `ses_mhx2k1q0a8f3k9x0a1b2`. Rows are indexed by id, so ids that grow
 * with time are appended at the end of each index instead of landing on a random page: the writes
 * of the tasks that commit together touch the same few pages.
 */
export function newId(prefix: string, now = Date.now()): string {
  const bytes = randomBytes(12);
  let out = now.toString(36).padStart(9, '0');
  for (const b of bytes) out += ALPHABET[b % 36];
  return `${prefix}_${out}`;
}

/** A secret with a recognisable prefix (`mrt_` API token, `mrg_` registration token, `mrc_` runner credential). */
export function newSecret(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

/** Secrets are stored only as SHA-256 hex digests. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function secretMatches(secret: string, hash: string): boolean {
  const a = Buffer.from(hashSecret(secret), 'hex');
  const b = Buffer.from(hash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
