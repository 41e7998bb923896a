/** @module Quantities with units (`16GB`, `16Gi`, `512Mi`, `500m`, `1.5`) parsed to plain numbers for comparison. */

/**
 * Unit suffixes and the power they scale by. Decimal units are written as a power of ten and
 * applied through the number's exponent (`"0.3e9"`), so `0.3GB` is exactly `300MB`; binary units
 * are powers of two, which a float multiplies exactly.
 *
 * - binary (IEC): `Ki Mi Gi Ti Pi Ei` = 2^10 … 2^60
 * - decimal bytes: `KB kB MB GB TB PB EB` = 10^3 … 10^18
 * - decimal SI: `k K M G T P E` = 10^3 … 10^18
 * - milli (CPU millicores): `m` = 10^-3, so `500m` = 0.5
 *
 * `GB` and `Gi` are different amounts on purpose: `16GB` = 16 × 10^9, `16Gi` = 16 × 2^30
 * (about 17.18 × 10^9), so `16Gi > 16GB`. `M` is mega and `m` is milli.
 */
const DECIMAL_EXPONENT: Readonly<Record<string, number>> = {
  m: -3,
  k: 3,
  K: 3,
  KB: 3,
  kB: 3,
  M: 6,
  MB: 6,
  G: 9,
  GB: 9,
  T: 12,
  TB: 12,
  P: 15,
  PB: 15,
  E: 18,
  EB: 18,
};
const BINARY_FACTOR: Readonly<Record<string, number>> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

const QUANTITY_RE = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))([A-Za-z]{0,2})$/;

/** A parsed quantity: its value and whether the text carried a unit suffix. */
export interface Quantity {
  readonly value: number;
  readonly hasUnit: boolean;
}

/**
 * Parses a quantity and says whether it had a unit. No whitespace, no exponent notation.
 * Returns null for anything that is not a number with an optional known unit.
 * @example parseQuantityParts('512Mi') // { value: 536870912, hasUnit: true }
 */
export function parseQuantityParts(s: string): Quantity | null {
  const m = QUANTITY_RE.exec(s);
  if (m === null) return null;
  const num = m[1] as string;
  const unit = m[2] as string;
  if (unit === '') return { value: Number(num), hasUnit: false };
  if (Object.hasOwn(DECIMAL_EXPONENT, unit)) {
    const value = Number(`${num}e${DECIMAL_EXPONENT[unit]}`);
    return Number.isFinite(value) ? { value, hasUnit: true } : null;
  }
  if (Object.hasOwn(BINARY_FACTOR, unit)) {
    const value = Number(num) * (BINARY_FACTOR[unit] as number);
    return Number.isFinite(value) ? { value, hasUnit: true } : null;
  }
  return null;
}

/**
 * Parses a quantity to a number: `16` → 16, `1.5` → 1.5, `16GB` → 16e9, `16Gi` → 16 × 2^30,
 * `500m` → 0.5. Returns null when the text is not a quantity.
 * @example parseQuantity('24GB') === 24_000_000_000; parseQuantity('24000MB') === 24_000_000_000
 */
export function parseQuantity(s: string): number | null {
  const q = parseQuantityParts(s);
  return q === null ? null : q.value;
}

/**
 * Memo for label values, which repeat across pools and runners (`vram=24GB` on hundreds of
 * machines). Bounded: cleared when it grows past {@link MEMO_LIMIT} entries, so arbitrary label
 * values cannot grow it without bound. Pure in effect: the same input always gives the same answer.
 */
const MEMO_LIMIT = 8192;
const memo = new Map<string, Quantity | null>();

/** {@link parseQuantityParts} with a bounded memo; used on the scheduler's hot path. */
export function parseQuantityCached(s: string): Quantity | null {
  const hit = memo.get(s);
  if (hit !== undefined) return hit;
  const q = parseQuantityParts(s);
  if (memo.size >= MEMO_LIMIT) memo.clear();
  memo.set(s, q);
  return q;
}
