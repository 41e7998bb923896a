import { describe, expect, it } from 'vitest';
import { InvalidRequest } from '../core/errors.js';
import { boundedDuration, findNul, intInRange, MAX_DURATION_MS, rejectNul } from './input-guards.js';

describe('findNul', () => {
  it('names the first string holding a NUL byte, as a value or a key', () => {
    expect(findNul({ agent: 'shell', env: { A: 'ok', B: 'x\0' } })).toBe('env.B');
    expect(findNul({ command: ['bash', '-c', '\0'] })).toBe('command[2]');
    expect(findNul({ cfg: { 'k\0': 1 } })).toBe('cfg."k\\u0000" (a key)');
    expect(findNul('a\0')).toBe('');
    expect(findNul({ a: 1, b: true, c: null, d: ['x', { e: 'y' }] })).toBeNull();
  });

  it('walks any nesting depth without overflowing the stack', () => {
    let deep: unknown = 'bottom\0';
    for (let i = 0; i < 200_000; i++) deep = [deep];
    expect(findNul({ deep })).toMatch(/^deep(\[0\]){200000}$/);
  });

  it('rejectNul throws InvalidRequest naming where', () => {
    expect(() => rejectNul('query', { state: 'a\0' })).toThrow(InvalidRequest);
    expect(() => rejectNul('path', { id: 'x\0' })).toThrow(/^path: id contains a NUL byte/);
    expect(() => rejectNul('body', { prompt: 'fine' })).not.toThrow();
  });
});

describe('bounded inputs', () => {
  it('takes durations up to 3650 days, and names the field and the range past that', () => {
    expect(boundedDuration('24h', 'expiresIn')).toBe(86_400_000);
    expect(boundedDuration(0, 'grace')).toBe(0);
    expect(boundedDuration('3650d', 'expiresIn')).toBe(MAX_DURATION_MS);
    expect(() => boundedDuration(1e308, 'expiresIn')).toThrow(
      /^expiresIn: 1e\+308 is out of range; a duration here is 0 to 87600h \(315360000 seconds\)$/,
    );
    expect(() => boundedDuration('3651d', 'idle_timeout')).toThrow(/^idle_timeout: "3651d" is out of range/);
    expect(() => boundedDuration('soon', 'grace')).toThrow(/^grace: "soon" is not a duration/);
    expect(() => boundedDuration(Number.NaN, 'grace')).toThrow(/not a duration/);
  });

  it('keeps integers in their range', () => {
    expect(intInRange(5, 'priority', { min: -1000, max: 1000 })).toBe(5);
    expect(() => intInRange(3e9, 'priority', { min: -1000, max: 1000 })).toThrow(
      /^priority: 3000000000 is out of range; it is an integer from -1000 to 1000$/,
    );
  });
});
