/**
 * The registration token bucket: a burst, then the steady rate, each token on its own.
 */
import { describe, expect, it } from 'vitest';
import { TokenRateLimiter } from './runner-link-limits.js';

describe('TokenRateLimiter', () => {
  it('allows the burst, then one per 60/perMinute seconds, and says how long to wait', () => {
    const l = new TokenRateLimiter(60, 3);
    const t = 1_000_000;
    expect([l.take('a', t), l.take('a', t), l.take('a', t)]).toEqual([null, null, null]);
    expect(l.take('a', t)).toBe(1000);
    expect(l.take('a', t + 400)).toBe(600);
    expect(l.take('a', t + 1000)).toBeNull();
    expect(l.take('a', t + 1000)).toBe(1000);
    // Another token has its own bucket.
    expect(l.take('b', t + 1000)).toBeNull();
  });

  it('refills to the burst, never past it', () => {
    const l = new TokenRateLimiter(60, 2);
    expect(l.take('a', 0)).toBeNull();
    expect(l.take('a', 0)).toBeNull();
    const later = 3_600_000;
    expect(l.take('a', later)).toBeNull();
    expect(l.take('a', later)).toBeNull();
    expect(l.take('a', later)).not.toBeNull();
  });
});
