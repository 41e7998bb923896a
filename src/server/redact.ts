/**
 * @module Redaction of known secret values: the server feeds it every secret in play (session env
 * values as they are sealed or opened, API and registration tokens it issues, the agent
 * credentials it passes through) and runs its log lines, event data and error messages through
 * `redact`, which replaces each known value (and its JSON-escaped form) with `[redacted]`.
 *
 * Values shorter than MIN_SECRET_LENGTH are not tracked: redacting `1` or `yes` everywhere would
 * garble every line and protect nothing.
 */

export const REDACTED = '[redacted]';
/** Shorter values are not redacted (see the module note). */
export const MIN_SECRET_LENGTH = 6;
/** At most this many values are tracked; the oldest go first past it (bounded memory). */
const MAX_VALUES = 50_000;
/** Up to this many values, one regular expression (fastest for few); past it, the prefix index. */
const REGEX_MAX = 200;

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export class Redactor {
  private readonly values = new Set<string>();
  /** Values by their first MIN_SECRET_LENGTH characters, longest first (the scan for many values). */
  private readonly byPrefix = new Map<string, string[]>();
  private pattern: RegExp | null = null;
  private dirty = false;

  /** Tracks `value` (and the form it takes inside JSON text) from now on. */
  add(value: string | null | undefined): void {
    if (!value || value.length < MIN_SECRET_LENGTH) return;
    for (const v of [value, JSON.stringify(value).slice(1, -1)]) {
      if (this.values.has(v)) continue;
      this.values.add(v);
      const key = v.slice(0, MIN_SECRET_LENGTH);
      const list = this.byPrefix.get(key) ?? [];
      list.push(v);
      list.sort((a, b) => b.length - a.length);
      this.byPrefix.set(key, list);
      this.dirty = true;
    }
    while (this.values.size > MAX_VALUES) this.forget(this.values.values().next().value as string);
  }

  private forget(v: string): void {
    this.values.delete(v);
    const key = v.slice(0, MIN_SECRET_LENGTH);
    const rest = (this.byPrefix.get(key) ?? []).filter((x) => x !== v);
    if (rest.length) this.byPrefix.set(key, rest);
    else this.byPrefix.delete(key);
    this.dirty = true;
  }

  /** Tracks every value given. */
  addAll(values: Iterable<string>): void {
    for (const v of values) this.add(v);
  }

  /** How many values are tracked. */
  get size(): number {
    return this.values.size;
  }

  /**
   * `text` with every known value replaced by `[redacted]` (the longest value where several match
   * at one place). Up to REGEX_MAX values one regular expression does it; past that, a scan that
   * looks each position's first characters up in an index, so the cost per line stays flat however
   * many values are tracked.
   */
  redact(text: string): string {
    if (this.values.size === 0 || text.length < MIN_SECRET_LENGTH) return text;
    if (this.values.size <= REGEX_MAX) {
      if (this.dirty || !this.pattern) {
        const sorted = [...this.values].sort((a, b) => b.length - a.length).map(escapeRegExp);
        this.pattern = new RegExp(sorted.join('|'), 'g');
        this.dirty = false;
      }
      return text.replace(this.pattern, REDACTED);
    }
    let out = '';
    let last = 0;
    for (let i = 0; i <= text.length - MIN_SECRET_LENGTH; ) {
      const hit = this.byPrefix.get(text.slice(i, i + MIN_SECRET_LENGTH))?.find((v) => text.startsWith(v, i));
      if (hit === undefined) {
        i++;
        continue;
      }
      out += text.slice(last, i) + REDACTED;
      i += hit.length;
      last = i;
    }
    return last === 0 ? text : out + text.slice(last);
  }

  /** A copy of `data` with every string inside redacted (for event data, error details). */
  redactDeep<T>(data: T): T {
    if (this.values.size === 0) return data;
    const walk = (v: unknown): unknown => {
      if (typeof v === 'string') return this.redact(v);
      if (Array.isArray(v)) return v.map(walk);
      if (v && typeof v === 'object') {
        const out: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(v)) out[k] = walk(x);
        return out;
      }
      return v;
    };
    return walk(data) as T;
  }
}
