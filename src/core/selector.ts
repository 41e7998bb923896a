/**
 * @module The label selector language (`gpu=nvidia,vram>=16GB,os in (linux,darwin),!spot`):
 * parsing to plain data with quantities pre-parsed, canonical formatting, the YAML map form, and
 * matching against labels with a human reason on failure.
 *
 * Grammar (whitespace is allowed around every token):
 *
 * ```
 * selector := "" | term ("," term)*
 * term     := "!" key                        label absent
 *           | key                            label present
 *           | key ("=" | "==" | "!=") value  string equality (numeric when both sides carry units)
 *           | key (">" | ">=" | "<" | "<=") value   numeric, both sides parsed as quantities
 *           | key ("in" | "notin") "(" value ("," value)* ")"
 * key      := [A-Za-z0-9._/-]+
 * value    := [A-Za-z0-9._:/+-]+ | '"' (any char, with \" and \\ escaped) '"'
 * ```
 *
 * Equality rule: `=`, `!=`, `in` and `notin` compare strings, except that when the selector value
 * and the label value both parse as quantities *with a unit* they compare as numbers. So
 * `vram=24GB` matches `vram=24000MB` (both 24 × 10^9) but not `vram=24Gi` (24 × 2^30) and not
 * `vram=24` (no unit: compared as text). As in Kubernetes, `!=` and `notin` also match when the
 * label is missing.
 */
import { assertNever, InvalidRequest } from './errors.js';
import { parseQuantityCached, parseQuantityParts, type Quantity } from './quantity.js';
import type { Labels } from './types.js';

/** One compiled term. Quantities are parsed once, at compile time. */
export type SelectorTerm =
  | {
      op: 'eq' | 'ne';
      key: string;
      value: string;
      /** The value as a number when it carries a unit (`24GB`), else null (compare as text). */
      quantity: number | null;
    }
  | { op: 'gt' | 'ge' | 'lt' | 'le'; key: string; value: string; quantity: number }
  | { op: 'in' | 'notin'; key: string; values: string[]; quantities: (number | null)[] }
  | { op: 'exists' | 'absent'; key: string };

export type SelectorOp = SelectorTerm['op'];

/** A compiled selector: terms ANDed together. No terms matches everything. */
export interface Selector {
  terms: SelectorTerm[];
}

export type SelectorMatch = { ok: true } | { ok: false; term: string; key: string; detail: string };

/** A selector that could not be parsed; `details.column` is 1-based. */
export class SelectorParseError extends InvalidRequest {
  readonly column: number;
  readonly expected: string;
  constructor(expected: string, column: number, src: string) {
    super(`selector: ${expected} at column ${column} in ${JSON.stringify(src)}`, {
      hint: 'selector syntax: key=value, key!=value, key>=16GB, key in (a,b), key notin (a,b), key, !key; comma means AND',
      details: { column, expected, selector: src },
    });
    this.column = column;
    this.expected = expected;
  }
}

const OPERATOR_LIST = '=, !=, >, >=, <, <=, in, notin';
const KEY_RE = /^[A-Za-z0-9._/-]+$/;

function isKeyChar(c: number): boolean {
  return (
    (c >= 97 && c <= 122) || // a-z
    (c >= 65 && c <= 90) || // A-Z
    (c >= 48 && c <= 57) || // 0-9
    c === 46 || // .
    c === 95 || // _
    c === 47 || // /
    c === 45 // -
  );
}

function isBareValueChar(c: number): boolean {
  return isKeyChar(c) || c === 58 /* : */ || c === 43 /* + */;
}

function isWs(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

function isLetter(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
}

const EMPTY: Selector = Object.freeze({ terms: Object.freeze([]) as unknown as SelectorTerm[] });

/** The match-all selector (no terms). Frozen; safe to share. */
export const MATCH_ALL: Selector = EMPTY;

/** Equality quantity: only values that carry a unit compare numerically. */
function unitQuantity(value: string): number | null {
  const q = parseQuantityParts(value);
  return q?.hasUnit ? q.value : null;
}

class Parser {
  i = 0;
  constructor(readonly src: string) {}

  fail(expected: string, at = this.i): never {
    throw new SelectorParseError(expected, at + 1, this.src);
  }

  skipWs(): void {
    while (this.i < this.src.length && isWs(this.src.charCodeAt(this.i))) this.i++;
  }

  key(): string {
    const start = this.i;
    while (this.i < this.src.length && isKeyChar(this.src.charCodeAt(this.i))) this.i++;
    if (this.i === start) this.fail('expected a label key ([A-Za-z0-9._/-])');
    return this.src.slice(start, this.i);
  }

  value(): string {
    const src = this.src;
    if (src.charCodeAt(this.i) === 34 /* " */) {
      const open = this.i;
      this.i++;
      let out = '';
      while (this.i < src.length) {
        const c = src[this.i] as string;
        if (c === '"') {
          this.i++;
          return out;
        }
        if (c === '\\') {
          if (this.i + 1 >= src.length) break;
          out += src[this.i + 1];
          this.i += 2;
          continue;
        }
        out += c;
        this.i++;
      }
      this.fail("expected a closing '\"' for the string opened", open);
    }
    const start = this.i;
    while (this.i < src.length && isBareValueChar(src.charCodeAt(this.i))) this.i++;
    if (this.i === start) this.fail('expected a value (a word of [A-Za-z0-9._:/+-] or a "quoted string")');
    return src.slice(start, this.i);
  }

  term(): SelectorTerm {
    const src = this.src;
    this.skipWs();
    if (src.charCodeAt(this.i) === 33 /* ! */) {
      this.i++;
      this.skipWs();
      const key = this.key();
      this.skipWs();
      if (this.i < src.length && src[this.i] !== ',') this.fail("expected ',' or end of selector after !key");
      return { op: 'absent', key };
    }
    const key = this.key();
    this.skipWs();
    if (this.i >= src.length || src[this.i] === ',') return { op: 'exists', key };
    const opAt = this.i;
    const c = src[this.i];
    let op: 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le' | 'in' | 'notin';
    if (c === '=') {
      this.i += src[this.i + 1] === '=' ? 2 : 1;
      op = 'eq';
    } else if (c === '!' && src[this.i + 1] === '=') {
      this.i += 2;
      op = 'ne';
    } else if (c === '>' || c === '<') {
      const orEqual = src[this.i + 1] === '=';
      this.i += orEqual ? 2 : 1;
      op = c === '>' ? (orEqual ? 'ge' : 'gt') : orEqual ? 'le' : 'lt';
    } else {
      let j = this.i;
      while (j < src.length && isLetter(src.charCodeAt(j))) j++;
      const word = src.slice(this.i, j);
      if (word !== 'in' && word !== 'notin') this.fail(`expected an operator (${OPERATOR_LIST})`);
      this.i = j;
      op = word;
    }
    this.skipWs();
    if (op === 'in' || op === 'notin') {
      if (src[this.i] !== '(') this.fail(`expected '(' after ${op}`);
      this.i++;
      const values: string[] = [];
      for (;;) {
        this.skipWs();
        values.push(this.value());
        this.skipWs();
        if (src[this.i] === ',') {
          this.i++;
          continue;
        }
        if (src[this.i] === ')') {
          this.i++;
          break;
        }
        this.fail("expected ',' or ')' in the value list");
      }
      return { op, key, values, quantities: values.map(unitQuantity) };
    }
    const valueAt = this.i;
    const value = this.value();
    if (op === 'eq' || op === 'ne') return { op, key, value, quantity: unitQuantity(value) };
    const q = parseQuantityParts(value);
    if (q === null) {
      this.fail(
        `expected a number or quantity (e.g. 16, 1.5, 16GB, 512Mi, 500m) after ${src.slice(opAt, valueAt).trim()}, got ${JSON.stringify(value)}`,
        valueAt,
      );
    }
    return { op, key, value, quantity: q.value };
  }

  selector(): Selector {
    const src = this.src;
    this.skipWs();
    if (this.i >= src.length) return { terms: [] };
    const terms: SelectorTerm[] = [];
    for (;;) {
      terms.push(this.term());
      this.skipWs();
      if (this.i >= src.length) return { terms };
      if (src[this.i] !== ',') this.fail("expected ',' or end of selector");
      this.i++;
    }
  }
}

/**
 * Parses selector text into a compiled {@link Selector}. Empty or whitespace-only text matches
 * everything. Throws {@link SelectorParseError} naming the 1-based column and what was expected.
 * @example parseSelector('gpu=nvidia, vram>=16GB') // { terms: [{op:'eq',...}, {op:'ge', key:'vram', value:'16GB', quantity: 16e9}] }
 */
export function parseSelector(src: string): Selector {
  if (typeof src !== 'string') throw new SelectorParseError('expected selector text (a string)', 1, String(src));
  return new Parser(src).selector();
}

/** Formats one value: bare when it can be, else a double-quoted string with `"` and `\` escaped. */
export function formatSelectorValue(v: string): string {
  return isBare(v) ? v : `"${v.replace(/[\\"]/g, '\\$&')}"`;
}

function isBare(v: string): boolean {
  if (v.length === 0) return false;
  for (let k = 0; k < v.length; k++) if (!isBareValueChar(v.charCodeAt(k))) return false;
  return true;
}

/** Canonical text of one term (`vram>=16GB`, `os in (darwin,linux)`, `!spot`). */
export function formatTerm(t: SelectorTerm): string {
  switch (t.op) {
    case 'eq':
      return `${t.key}=${formatSelectorValue(t.value)}`;
    case 'ne':
      return `${t.key}!=${formatSelectorValue(t.value)}`;
    case 'gt':
      return `${t.key}>${formatSelectorValue(t.value)}`;
    case 'ge':
      return `${t.key}>=${formatSelectorValue(t.value)}`;
    case 'lt':
      return `${t.key}<${formatSelectorValue(t.value)}`;
    case 'le':
      return `${t.key}<=${formatSelectorValue(t.value)}`;
    case 'in':
    case 'notin':
      return `${t.key} ${t.op} (${t.values.map(formatSelectorValue).join(',')})`;
    case 'exists':
      return t.key;
    case 'absent':
      return `!${t.key}`;
    default:
      return assertNever(t, 'selector term');
  }
}

/**
 * Canonical selector text: terms in order, joined by `,` with no spaces.
 * `parseSelector(formatSelector(s))` deep-equals `s` for every parsed `s`.
 */
export function formatSelector(sel: Selector): string {
  return sel.terms.map(formatTerm).join(',');
}

const MAP_OPS: ReadonlyArray<readonly [string, 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le']> = [
  ['>=', 'ge'],
  ['<=', 'le'],
  ['!=', 'ne'],
  ['==', 'eq'],
  ['>', 'gt'],
  ['<', 'lt'],
  ['=', 'eq'],
];

/**
 * Compiles the YAML map form (`{ os: darwin, vram: ">=16GB", arch: "in (arm64,x86_64)" }`).
 * A value that starts with an operator (`>=`, `<=`, `>`, `<`, `!=`, `==`, `=`, `in (`, `notin (`)
 * uses it; anything else is string equality (spaces allowed). Numbers and booleans are taken as
 * their text. Errors are {@link InvalidRequest}s naming the key.
 * @example selectorFromMap({ gpu: 'nvidia', vram: '>=16GB' }) // same as parseSelector('gpu=nvidia,vram>=16GB')
 */
export function selectorFromMap(map: Record<string, string | number | boolean>): Selector {
  if (map === null || typeof map !== 'object' || Array.isArray(map)) {
    throw new InvalidRequest('selector: expected a map of label keys to values');
  }
  const terms: SelectorTerm[] = [];
  for (const [key, raw] of Object.entries(map)) {
    if (!KEY_RE.test(key)) {
      throw new InvalidRequest(
        `selector.${key}: ${JSON.stringify(key)} is not a label key (expected [A-Za-z0-9._/-]+)`,
      );
    }
    if (typeof raw !== 'string' && typeof raw !== 'number' && typeof raw !== 'boolean') {
      throw new InvalidRequest(`selector.${key}: expected a string, number or boolean, got ${JSON.stringify(raw)}`);
    }
    const text = String(raw).trim();
    const list = /^(in|notin)\s*\(/.exec(text);
    if (list !== null) {
      try {
        const parsed = parseSelector(`${key} ${text}`);
        const only = parsed.terms[0];
        if (parsed.terms.length !== 1 || only === undefined) throw new Error('more than one term');
        terms.push(only);
      } catch {
        throw new InvalidRequest(
          `selector.${key}: ${JSON.stringify(text)} is not a value list (expected ${list[1]} (a,b,...))`,
        );
      }
      continue;
    }
    const found = MAP_OPS.find(([prefix]) => text.startsWith(prefix));
    const op = found === undefined ? 'eq' : found[1];
    const value = found === undefined ? text : text.slice(found[0].length).trim();
    if (op === 'eq' || op === 'ne') {
      terms.push({ op, key, value, quantity: unitQuantity(value) });
      continue;
    }
    const q = parseQuantityParts(value);
    if (q === null) {
      throw new InvalidRequest(
        `selector.${key}: expected a number or quantity (e.g. 16, 16GB, 512Mi, 500m) after ${found?.[0]}, got ${JSON.stringify(value)}`,
      );
    }
    terms.push({ op, key, value, quantity: q.value });
  }
  return { terms };
}

/** ANDs two selectors (terms of `a`, then terms of `b`). `null`/`undefined` count as match-all. */
export function mergeSelectors(a: Selector | null | undefined, b: Selector | null | undefined): Selector {
  if (a == null || a.terms.length === 0) return b ?? EMPTY;
  if (b == null || b.terms.length === 0) return a;
  return { terms: [...a.terms, ...b.terms] };
}

/**
 * Label lookup that never returns an inherited property: everything `Object.prototype` carries
 * (`constructor`, `toString`, `__proto__`...) is a function or an object, never a string, so a
 * `typeof` check is enough and much cheaper than `Object.hasOwn` on the hot path.
 */
function lookup(labels: Labels, key: string): string | undefined {
  const v = labels[key];
  return typeof v === 'string' ? v : undefined;
}

function labelValue(primary: Labels, fallback: Labels | undefined, key: string): string | undefined {
  const v = lookup(primary, key);
  return v !== undefined || fallback === undefined ? v : lookup(fallback, key);
}

function equalsValue(
  label: string,
  value: string,
  quantity: number | null,
  parsed: Quantity | null | undefined,
): boolean {
  if (label === value) return true;
  if (quantity === null) return false;
  const q = parsed === undefined ? parseQuantityCached(label) : parsed;
  return q?.hasUnit === true && q.value === quantity;
}

/**
 * Whether one term accepts a label value (`undefined`: label missing). `parsed` is the value's
 * quantity when the caller pre-parsed it (`undefined`: parse on demand, memoised).
 */
export function matchTerm(t: SelectorTerm, v: string | undefined, parsed?: Quantity | null): boolean {
  switch (t.op) {
    case 'exists':
      return v !== undefined;
    case 'absent':
      return v === undefined;
    case 'eq':
      return v !== undefined && equalsValue(v, t.value, t.quantity, parsed);
    case 'ne':
      return v === undefined || !equalsValue(v, t.value, t.quantity, parsed);
    case 'in':
    case 'notin': {
      let found = false;
      if (v !== undefined) {
        for (let k = 0; k < t.values.length; k++) {
          if (equalsValue(v, t.values[k] as string, t.quantities[k] as number | null, parsed)) {
            found = true;
            break;
          }
        }
      }
      return t.op === 'in' ? found : !found;
    }
    case 'gt':
    case 'ge':
    case 'lt':
    case 'le': {
      if (v === undefined) return false;
      const q = parsed === undefined ? parseQuantityCached(v) : parsed;
      if (q === null) return false;
      const n = q.value;
      return t.op === 'gt'
        ? n > t.quantity
        : t.op === 'ge'
          ? n >= t.quantity
          : t.op === 'lt'
            ? n < t.quantity
            : n <= t.quantity;
    }
    default:
      return assertNever(t, 'selector term');
  }
}

/**
 * Index of the first term that `labels` (with `fallback` consulted for keys `labels` lacks) does
 * not satisfy, or -1 when all match. Allocation-free; the scheduler's hot path.
 */
export function firstFailingTerm(sel: Selector, labels: Labels, fallback?: Labels): number {
  const terms = sel.terms;
  for (let k = 0; k < terms.length; k++) {
    const t = terms[k] as SelectorTerm;
    if (!matchTerm(t, labelValue(labels, fallback, t.key))) return k;
  }
  return -1;
}

/** {@link firstFailingTerm} over labels held in a Map (the scheduler compiles pool labels to one). */
export function firstFailingTermMap(sel: Selector, labels: ReadonlyMap<string, string>): number {
  const terms = sel.terms;
  for (let k = 0; k < terms.length; k++) {
    const t = terms[k] as SelectorTerm;
    if (!matchTerm(t, labels.get(t.key))) return k;
  }
  return -1;
}

/** Human reason why `t` fails on these labels (call only for a failing term). `termText` is `formatTerm(t)` if the caller has it. */
export function explainTerm(t: SelectorTerm, labels: Labels, fallback?: Labels, termText?: string): string {
  const term = termText ?? formatTerm(t);
  const v = labelValue(labels, fallback, t.key);
  if (v === undefined) return `label ${t.key} missing`;
  const shown = `${t.key}=${formatSelectorValue(v)}`;
  if (t.op === 'absent') return `${shown} is present; ${term} requires it absent`;
  if ((t.op === 'gt' || t.op === 'ge' || t.op === 'lt' || t.op === 'le') && parseQuantityCached(v) === null) {
    return `${shown} is not a number or quantity; ${term} compares numerically`;
  }
  return `${shown} does not satisfy ${term}`;
}

/**
 * Matches labels against a selector. `fallback` supplies keys `labels` lacks (runner labels over
 * pool labels). On failure names the first failing term, its key, and a human detail such as
 * `vram=8GB does not satisfy vram>=16GB` or `label gpu missing`.
 */
export function matchSelector(sel: Selector, labels: Labels, fallback?: Labels): SelectorMatch {
  const k = firstFailingTerm(sel, labels, fallback);
  if (k < 0) return { ok: true };
  const t = sel.terms[k] as SelectorTerm;
  return { ok: false, term: formatTerm(t), key: t.key, detail: explainTerm(t, labels, fallback) };
}
