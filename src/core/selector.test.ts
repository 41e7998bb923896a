/** @module Tests for the selector language and quantities: operators, units, quoting, errors, properties. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidRequest } from './errors.js';
import { parseQuantity, parseQuantityParts } from './quantity.js';
import {
  formatSelector,
  matchSelector,
  mergeSelectors,
  parseSelector,
  SelectorParseError,
  selectorFromMap,
} from './selector.js';

function matches(sel: string, labels: Record<string, string>): boolean {
  return matchSelector(parseSelector(sel), labels).ok;
}

function parseError(src: string): SelectorParseError {
  try {
    parseSelector(src);
  } catch (e) {
    if (e instanceof SelectorParseError) return e;
    throw e;
  }
  throw new Error(`expected ${JSON.stringify(src)} not to parse`);
}

describe('parseQuantity', () => {
  it.each([
    ['16', 16],
    ['1.5', 1.5],
    ['.5', 0.5],
    ['-2', -2],
    ['1Ki', 1024],
    ['512Mi', 512 * 2 ** 20],
    ['16Gi', 16 * 2 ** 30],
    ['2Ti', 2 * 2 ** 40],
    ['1KB', 1000],
    ['1kB', 1000],
    ['16GB', 16e9],
    ['24000MB', 24e9],
    ['3TB', 3e12],
    ['2k', 2000],
    ['2K', 2000],
    ['4M', 4e6],
    ['1G', 1e9],
    ['1T', 1e12],
    ['500m', 0.5],
    ['1500m', 1.5],
    ['0.3GB', 3e8],
  ])('%s → %d', (s, n) => {
    expect(parseQuantity(s)).toBe(n);
  });

  it.each(['', ' 16', '16 ', 'GB', '16XB', '16gb', '1e9', '16Gib', 'abc', '1.2.3', '+', '16 GB'])('rejects %j', (s) => {
    expect(parseQuantity(s)).toBeNull();
  });

  it('GB and Gi are different amounts, Gi the larger', () => {
    expect(parseQuantity('16Gi')).toBeGreaterThan(parseQuantity('16GB') as number);
  });

  it('m is milli and M is mega', () => {
    expect(parseQuantity('1m')).toBe(0.001);
    expect(parseQuantity('1M')).toBe(1e6);
  });

  it('says whether a unit was present', () => {
    expect(parseQuantityParts('24')).toEqual({ value: 24, hasUnit: false });
    expect(parseQuantityParts('24GB')).toEqual({ value: 24e9, hasUnit: true });
  });
});

describe('parseSelector: terms', () => {
  it('empty and whitespace-only selectors match everything', () => {
    expect(parseSelector('')).toEqual({ terms: [] });
    expect(parseSelector('  \t ')).toEqual({ terms: [] });
    expect(matches('', {})).toBe(true);
  });

  it('compiles every operator with quantities pre-parsed', () => {
    expect(parseSelector('a=x,b==y,c!=z,d>1,e>=16GB,f<2Gi,g<=500m,h in (p,24GB),i notin (q),j,!k').terms).toEqual([
      { op: 'eq', key: 'a', value: 'x', quantity: null },
      { op: 'eq', key: 'b', value: 'y', quantity: null },
      { op: 'ne', key: 'c', value: 'z', quantity: null },
      { op: 'gt', key: 'd', value: '1', quantity: 1 },
      { op: 'ge', key: 'e', value: '16GB', quantity: 16e9 },
      { op: 'lt', key: 'f', value: '2Gi', quantity: 2 * 2 ** 30 },
      { op: 'le', key: 'g', value: '500m', quantity: 0.5 },
      { op: 'in', key: 'h', values: ['p', '24GB'], quantities: [null, 24e9] },
      { op: 'notin', key: 'i', values: ['q'], quantities: [null] },
      { op: 'exists', key: 'j' },
      { op: 'absent', key: 'k' },
    ]);
  });

  it('allows whitespace around every token', () => {
    const tight = parseSelector('gpu=nvidia,vram>=16GB,os in (linux,darwin),!spot,zone');
    const loose = parseSelector('  gpu = nvidia ,\tvram >= 16GB , os   in(  linux , darwin ) , ! spot , zone  ');
    expect(loose).toEqual(tight);
  });

  it('accepts label-key characters and bare-value characters', () => {
    expect(parseSelector('example.com/gpu-type_v2=nvidia:a100+sxm/80.0-x').terms[0]).toEqual({
      op: 'eq',
      key: 'example.com/gpu-type_v2',
      value: 'nvidia:a100+sxm/80.0-x',
      quantity: null,
    });
  });

  it('reads double-quoted values with escapes', () => {
    expect(parseSelector('model="Apple M2, \\"Max\\" \\\\ x"').terms[0]).toEqual({
      op: 'eq',
      key: 'model',
      value: 'Apple M2, "Max" \\ x',
      quantity: null,
    });
    expect(parseSelector('a in ("x y", z)').terms[0]).toEqual({
      op: 'in',
      key: 'a',
      values: ['x y', 'z'],
      quantities: [null, null],
    });
    expect(parseSelector('a=""').terms[0]).toEqual({ op: 'eq', key: 'a', value: '', quantity: null });
  });

  it('takes a quoted quantity in a comparison', () => {
    expect(parseSelector('vram>="16GB"').terms[0]).toEqual({ op: 'ge', key: 'vram', value: '16GB', quantity: 16e9 });
  });
});

describe('parseSelector: errors name the column and what was expected', () => {
  it.each([
    ['gpu=nvidia,vram>>16GB', 17, 'expected a value'],
    ['gpu nvidia', 5, 'expected an operator (=, !=, >, >=, <, <=, in, notin)'],
    ['gpu=nvidia,', 12, 'expected a label key'],
    ['a,,b', 3, 'expected a label key'],
    ['=b', 1, 'expected a label key'],
    ['a=', 3, 'expected a value'],
    ['a!b', 2, 'expected an operator'],
    ['vram>=big', 7, 'expected a number or quantity'],
    ['vram<16XB', 6, 'expected a number or quantity'],
    ['a in x', 6, "expected '(' after in"],
    ['a notin ()', 10, 'expected a value'],
    ['a in (x,y', 10, "expected ',' or ')'"],
    ['a in (x y)', 9, "expected ',' or ')'"],
    ['a="abc', 3, "expected a closing '\"'"],
    ['!a=b', 3, "expected ',' or end of selector after !key"],
    ['a=b c', 5, "expected ',' or end of selector"],
    ['a=b;c=d', 4, "expected ',' or end of selector"],
    ['é=1', 1, 'expected a label key'],
  ])('%j fails at column %d', (src, column, expected) => {
    const e = parseError(src);
    expect(e.column).toBe(column);
    expect(e.expected).toContain(expected);
    expect(e.message).toBe(`selector: ${e.expected} at column ${column} in ${JSON.stringify(src)}`);
    expect(e).toBeInstanceOf(InvalidRequest);
    expect(e.code).toBe('invalid_request');
  });

  it('says which operator wanted a quantity and what it got', () => {
    expect(parseError('vram >= big').message).toBe(
      'selector: expected a number or quantity (e.g. 16, 1.5, 16GB, 512Mi, 500m) after >=, got "big" at column 9 in "vram >= big"',
    );
  });
});

describe('matchSelector', () => {
  const gpu24 = { gpu: 'nvidia', vram: '24GB', os: 'linux', cores: '16', cpu: '500m' };

  it('= and == compare strings', () => {
    expect(matches('gpu=nvidia', gpu24)).toBe(true);
    expect(matches('gpu==nvidia', gpu24)).toBe(true);
    expect(matches('gpu=amd', gpu24)).toBe(false);
    expect(matches('gpu=Nvidia', gpu24)).toBe(false);
    expect(matches('gpu=nvidia', {})).toBe(false);
  });

  it('= compares numerically only when both sides carry units', () => {
    expect(matches('vram=24GB', gpu24)).toBe(true);
    expect(matches('vram=24000MB', gpu24)).toBe(true);
    expect(matches('vram=24Gi', gpu24)).toBe(false);
    expect(matches('vram=24', gpu24)).toBe(false);
    expect(matches('cores=16.0', gpu24)).toBe(false);
    expect(matches('cpu=0.5', gpu24)).toBe(false);
    expect(matches('cpu=500m', gpu24)).toBe(true);
  });

  it('!= is the negation of =, and matches a missing label', () => {
    expect(matches('gpu!=amd', gpu24)).toBe(true);
    expect(matches('gpu!=nvidia', gpu24)).toBe(false);
    expect(matches('vram!=24000MB', gpu24)).toBe(false);
    expect(matches('gpu!=amd', {})).toBe(true);
  });

  it('> >= < <= compare quantities', () => {
    expect(matches('vram>=16GB', gpu24)).toBe(true);
    expect(matches('vram>=24GB', gpu24)).toBe(true);
    expect(matches('vram>24GB', gpu24)).toBe(false);
    expect(matches('vram>22Gi', gpu24)).toBe(true); // 24e9 > 23.6e9
    expect(matches('vram>=23Gi', gpu24)).toBe(false); // 24e9 < 24.7e9
    expect(matches('vram<32GB', gpu24)).toBe(true);
    expect(matches('vram<24GB', gpu24)).toBe(false);
    expect(matches('vram<=24000MB', gpu24)).toBe(true);
    expect(matches('cores>8', gpu24)).toBe(true);
    expect(matches('cores<=15.5', gpu24)).toBe(false);
    expect(matches('cpu<1', gpu24)).toBe(true);
    expect(matches('cpu>=500m', gpu24)).toBe(true);
    expect(matches('cpu>500m', gpu24)).toBe(false);
  });

  it('in and notin test membership with the equality rule', () => {
    expect(matches('os in (darwin,linux)', gpu24)).toBe(true);
    expect(matches('os in (darwin,windows)', gpu24)).toBe(false);
    expect(matches('vram in (8GB,24000MB)', gpu24)).toBe(true);
    expect(matches('os notin (darwin,windows)', gpu24)).toBe(true);
    expect(matches('os notin (linux)', gpu24)).toBe(false);
    expect(matches('arch in (arm64)', gpu24)).toBe(false);
    expect(matches('arch notin (arm64)', gpu24)).toBe(true);
  });

  it('key and !key test presence', () => {
    expect(matches('gpu', gpu24)).toBe(true);
    expect(matches('tpu', gpu24)).toBe(false);
    expect(matches('!tpu', gpu24)).toBe(true);
    expect(matches('!gpu', gpu24)).toBe(false);
  });

  it('comma is AND', () => {
    expect(matches('gpu=nvidia,vram>=16GB', gpu24)).toBe(true);
    expect(matches('gpu=nvidia,vram>=32GB', gpu24)).toBe(false);
  });

  it('never reads inherited properties as labels', () => {
    expect(matches('constructor', {})).toBe(false);
    expect(matches('!toString', {})).toBe(true);
  });

  it('names the failing term, its key and a human detail', () => {
    expect(matchSelector(parseSelector('gpu=nvidia,vram>=16GB'), { gpu: 'nvidia', vram: '8GB' })).toEqual({
      ok: false,
      term: 'vram>=16GB',
      key: 'vram',
      detail: 'vram=8GB does not satisfy vram>=16GB',
    });
    expect(matchSelector(parseSelector('gpu=nvidia'), {})).toEqual({
      ok: false,
      term: 'gpu=nvidia',
      key: 'gpu',
      detail: 'label gpu missing',
    });
    expect(matchSelector(parseSelector('vram>=16GB'), { vram: 'big' })).toEqual({
      ok: false,
      term: 'vram>=16GB',
      key: 'vram',
      detail: 'vram=big is not a number or quantity; vram>=16GB compares numerically',
    });
    expect(matchSelector(parseSelector('!spot'), { spot: 'true' })).toMatchObject({
      detail: 'spot=true is present; !spot requires it absent',
    });
    expect(matchSelector(parseSelector('model="M2 Max"'), { model: 'M2 Pro' })).toMatchObject({
      detail: 'model="M2 Pro" does not satisfy model="M2 Max"',
    });
  });

  it('consults the fallback labels for keys the primary lacks, primary first', () => {
    const sel = parseSelector('os=darwin,vram>=16GB');
    expect(matchSelector(sel, { vram: '32GB' }, { os: 'darwin', vram: '8GB' }).ok).toBe(true);
    expect(matchSelector(sel, { vram: '8GB' }, { os: 'darwin', vram: '32GB' })).toMatchObject({
      ok: false,
      key: 'vram',
    });
  });
});

describe('formatSelector', () => {
  it('writes canonical text', () => {
    expect(formatSelector(parseSelector(' gpu == nvidia , vram>="16GB", os in ( a , "b c" ), ! spot, zone'))).toBe(
      'gpu=nvidia,vram>=16GB,os in (a,"b c"),!spot,zone',
    );
    expect(formatSelector(parseSelector('a="x\\"y\\\\z"'))).toBe('a="x\\"y\\\\z"');
    expect(formatSelector(parseSelector('a=""'))).toBe('a=""');
    expect(formatSelector(parseSelector(''))).toBe('');
  });
});

describe('selectorFromMap', () => {
  it('compiles the YAML map form like the text form', () => {
    expect(selectorFromMap({ gpu: 'nvidia', vram: '>=16GB' })).toEqual(parseSelector('gpu=nvidia,vram>=16GB'));
    expect(selectorFromMap({ os: 'darwin', arch: 'arm64' })).toEqual(parseSelector('os=darwin,arch=arm64'));
    expect(
      selectorFromMap({ a: '!= x', b: '== y', c: '<2Gi', d: '<= 4', e: '> 1', f: '=z', g: 'in (p, q)', h: 'notin(r)' }),
    ).toEqual(parseSelector('a!=x,b=y,c<2Gi,d<=4,e>1,f=z,g in (p,q),h notin (r)'));
  });

  it('takes a value with spaces as one string, and numbers and booleans as text', () => {
    expect(selectorFromMap({ model: 'Apple M2 Max', cores: 16, spot: false })).toEqual(
      parseSelector('model="Apple M2 Max",cores=16,spot=false'),
    );
  });

  it('names the key in errors', () => {
    expect(() => selectorFromMap({ vram: '>=lots' })).toThrow(
      'selector.vram: expected a number or quantity (e.g. 16, 16GB, 512Mi, 500m) after >=, got "lots"',
    );
    expect(() => selectorFromMap({ 'bad key': 'x' })).toThrow('selector.bad key: "bad key" is not a label key');
    expect(() => selectorFromMap({ os: 'in (a,' })).toThrow('selector.os: "in (a," is not a value list');
    expect(() => selectorFromMap({ os: { nested: true } } as never)).toThrow(
      'selector.os: expected a string, number or boolean',
    );
    expect(() => selectorFromMap({ vram: '>=lots' })).toThrow(InvalidRequest);
  });
});

describe('mergeSelectors', () => {
  it('ANDs the terms, treating null as match-all', () => {
    const a = parseSelector('gpu=nvidia');
    const b = parseSelector('vram>=16GB');
    const m = mergeSelectors(a, b);
    expect(formatSelector(m)).toBe('gpu=nvidia,vram>=16GB');
    expect(matchSelector(m, { gpu: 'nvidia', vram: '8GB' }).ok).toBe(false);
    expect(matchSelector(m, { gpu: 'nvidia', vram: '24GB' }).ok).toBe(true);
    expect(mergeSelectors(null, b)).toEqual(b);
    expect(mergeSelectors(a, undefined)).toEqual(a);
    expect(mergeSelectors(null, null)).toEqual({ terms: [] });
  });
});

describe('properties', () => {
  const grammarChars = fc.constantFrom(...'abz09._/-:+=!<>(),"\\ \tinotGBMik'.split(''));

  it('random text either parses or throws SelectorParseError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: grammarChars, maxLength: 40 })), (src) => {
        try {
          parseSelector(src);
        } catch (e) {
          if (!(e instanceof SelectorParseError)) throw e;
          expect(e.column).toBeGreaterThanOrEqual(1);
          expect(e.column).toBeLessThanOrEqual(src.length + 1);
        }
      }),
      { numRuns: 2000 },
    );
  });

  const ws = fc.constantFrom('', ' ', '  ', '\t');
  const key = fc.stringMatching(/^[A-Za-z0-9._/-]{1,10}$/);
  const bare = fc.stringMatching(/^[A-Za-z0-9._:/+-]{1,10}$/);
  const quoted = fc.string({ maxLength: 10 }).map((s) => `"${s.replace(/[\\"]/g, '\\$&')}"`);
  const value = fc.oneof(bare, quoted);
  const quantity = fc
    .tuple(
      fc.nat({ max: 4096 }),
      fc.constantFrom('', '.5', '.25'),
      fc.constantFrom('', 'Ki', 'Mi', 'Gi', 'KB', 'GB', 'k', 'M', 'm'),
    )
    .map(([n, frac, unit]) => `${n}${frac}${unit}`);
  const quantityValue = fc.oneof(
    quantity,
    quantity.map((q) => `"${q}"`),
  );
  const term = fc.oneof(
    fc.tuple(key, ws, fc.constantFrom('=', '==', '!='), ws, fc.oneof(value, quantityValue)).map((p) => p.join('')),
    fc.tuple(key, ws, fc.constantFrom('>', '>=', '<', '<='), ws, quantityValue).map((p) => p.join('')),
    fc
      .tuple(
        key,
        fc.constantFrom(' in', ' notin', '  in '),
        ws,
        fc.array(fc.tuple(ws, value, ws), { minLength: 1, maxLength: 4 }),
      )
      .map(([k, op, w, vs]) => `${k}${op}${w}(${vs.map((v) => v.join('')).join(',')})`),
    fc.tuple(ws, key).map(([w, k]) => `!${w}${k}`),
    key,
  );
  const selectorText = fc
    .array(fc.tuple(ws, term, ws), { minLength: 0, maxLength: 6 })
    .map((ts) => ts.map((t) => t.join('')).join(','));

  it('generated selectors parse; parse(format(s)) deep-equals s; format is stable', () => {
    fc.assert(
      fc.property(selectorText, (src) => {
        const s = parseSelector(src);
        const text = formatSelector(s);
        const again = parseSelector(text);
        expect(again).toEqual(s);
        expect(formatSelector(again)).toBe(text);
      }),
      { numRuns: 2000 },
    );
  });

  it('selectorFromMap agrees with the text form for equality maps', () => {
    fc.assert(
      fc.property(fc.dictionary(key, bare, { maxKeys: 5 }), (map) => {
        const text = Object.entries(map)
          .map(([k, v]) => `${k}=${v}`)
          .join(',');
        expect(selectorFromMap(map)).toEqual(parseSelector(text));
      }),
    );
  });
});
