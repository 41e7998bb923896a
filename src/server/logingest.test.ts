import { describe, expect, it } from 'vitest';
import { SeqTracker } from './logingest.js';

describe('contiguous seq tracking', () => {
  it('advances only over what is stored without a hole', () => {
    const t = new SeqTracker(0);
    expect(t.add([1, 2, 3])).toEqual({ from: 1, to: 3 });
    expect(t.add([6, 7, 8])).toBeNull();
    expect(t.contiguous).toBe(3);
    expect(t.add([10])).toBeNull();
    expect(t.add([5])).toBeNull();
    expect(t.add([4])).toEqual({ from: 4, to: 8 });
    expect(t.add([2, 3])).toBeNull(); // resends
    expect(t.add([9])).toEqual({ from: 9, to: 10 });
  });

  it('starts from what the store already holds', () => {
    const t = new SeqTracker(100);
    expect(t.add([50, 101])).toEqual({ from: 101, to: 101 });
  });

  it('gives up tracking past 1,000 holes (and says so) instead of growing', () => {
    const t = new SeqTracker(0);
    for (let i = 0; i < 1002; i++) t.add([3 + i * 2]);
    expect(t.overflowed).toBe(true);
    expect(t.contiguous).toBe(0);
  });
});
