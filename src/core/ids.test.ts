import { describe, expect, it } from 'vitest';
import { newId } from './ids.js';

describe('newId', () => {
  it('carries its prefix, then 21 base-36 characters', () => {
    expect(newId('ses')).toMatch(/^ses_[0-9a-z]{21}$/);
  });

  it('sorts by creation time (so indexes on ids are appended to, not scattered)', () => {
    const times = [0, 1, 999, 1_000, 1_700_000_000_000, 1_700_000_000_001, 4_000_000_000_000];
    const ids = times.map((t) => newId('tsk', t));
    expect([...ids].sort()).toEqual(ids);
  });

  it('does not repeat within a millisecond', () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => newId('run', 1_700_000_000_000)));
    expect(ids.size).toBe(10_000);
  });
});
