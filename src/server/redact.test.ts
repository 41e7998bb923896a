/** Redaction of known secret values in text and in nested data, and what it leaves alone. */
import { describe, expect, it } from 'vitest';
import { REDACTED, Redactor } from './redact.js';

describe('Redactor', () => {
  it('replaces every known value, the longest first, and its JSON-escaped form', () => {
    const r = new Redactor();
    expect(r.redact('nothing known')).toBe('nothing known');
    r.add('s3cr3t-value');
    r.add('s3cr3t-value-longer');
    r.add('quote"and\\slash');
    expect(r.redact('a s3cr3t-value b s3cr3t-value-longer c')).toBe(`a ${REDACTED} b ${REDACTED} c`);
    const line = JSON.stringify({ msg: 'x quote"and\\slash y' });
    expect(r.redact(line)).toBe(JSON.stringify({ msg: `x ${REDACTED} y` }));
    expect(r.redact('regex chars .*+?')).toBe('regex chars .*+?');
  });

  it('ignores values too short to be secrets, and empty ones', () => {
    const r = new Redactor();
    r.add('');
    r.add(null);
    r.add('yes');
    expect(r.size).toBe(0);
    expect(r.redact('yes yes')).toBe('yes yes');
  });

  it('redacts strings inside nested data, leaving other values and keys alone', () => {
    const r = new Redactor();
    r.add('tok_abcdef123');
    const out = r.redactDeep({ a: 'x tok_abcdef123', n: 3, list: ['tok_abcdef123', true], o: { b: null } });
    expect(out).toEqual({ a: `x ${REDACTED}`, n: 3, list: [REDACTED, true], o: { b: null } });
  });
});

describe('Redactor with many values (the prefix index past 200)', () => {
  it('redacts the same as with few: longest match first, JSON forms, nothing else touched', () => {
    const r = new Redactor();
    for (let i = 0; i < 500; i++) r.add(`filler-value-${i}-xyz`);
    r.add('s3cr3t-value');
    r.add('s3cr3t-value-longer');
    r.add('quote"and\\slash');
    expect(r.size).toBeGreaterThan(200);
    expect(r.redact('a s3cr3t-value b s3cr3t-value-longer c filler-value-42-xyz!')).toBe(
      `a ${REDACTED} b ${REDACTED} c ${REDACTED}!`,
    );
    expect(r.redact(JSON.stringify({ msg: 'x quote"and\\slash y' }))).toBe(JSON.stringify({ msg: `x ${REDACTED} y` }));
    expect(r.redact('filler-value-9999-xyz and s3cr3t')).toBe('filler-value-9999-xyz and s3cr3t');
    expect(r.redact('s3cr3t-value+s3cr3t-value')).toBe(`${REDACTED}+${REDACTED}`);
  });
});
