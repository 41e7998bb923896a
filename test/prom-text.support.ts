/**
 * @module A strict parser of the Prometheus text exposition format (version 0.0.4) for tests:
 * `# HELP` / `# TYPE` lines, samples with escaped label values, optional timestamps. Anything
 * that does not follow the format throws naming the line, and so do the format's own rules: one
 * TYPE per family, before its samples; histogram buckets cumulative, ending at `le="+Inf"` equal to
 * `_count`.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseValue(text: string, where: string): number {
  if (text === '+Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  if (text === 'NaN') return Number.NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`${where}: bad value ${text}`);
  return Number(text);
}

function parseSample(line: string, where: string): Sample {
  const m = NAME.exec(line);
  if (!m) throw new Error(`${where}: no metric name`);
  const name = m[0];
  let i = name.length;
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    while (line[i] !== '}') {
      const l = LABEL.exec(line.slice(i));
      if (!l) throw new Error(`${where}: bad label name at column ${i}`);
      i += l[0].length;
      if (line[i] !== '=' || line[i + 1] !== '"') throw new Error(`${where}: label ${l[0]} has no ="value"`);
      i += 2;
      let v = '';
      for (;;) {
        const c = line[i];
        if (c === undefined) throw new Error(`${where}: unterminated label value`);
        i++;
        if (c === '"') break;
        if (c === '\\') {
          const e = line[i++];
          if (e === 'n') v += '\n';
          else if (e === '\\' || e === '"') v += e;
          else throw new Error(`${where}: bad escape \\${e}`);
        } else v += c;
      }
      if (l[0] in labels) throw new Error(`${where}: label ${l[0]} twice`);
      labels[l[0]] = v;
      if (line[i] === ',') i++;
      else if (line[i] !== '}') throw new Error(`${where}: expected , or } at column ${i}`);
    }
    i++;
  }
  const rest = line.slice(i).trim().split(/\s+/);
  if (line[i] !== ' ' || rest.length < 1 || rest.length > 2) throw new Error(`${where}: expected " value [timestamp]"`);
  if (rest[1] !== undefined && !/^-?\d+$/.test(rest[1])) throw new Error(`${where}: bad timestamp ${rest[1]}`);
  return { name, labels, value: parseValue(rest[0]!, where) };
}

/** The family a sample belongs to (histogram and summary samples carry suffixes). */
function familyOf(sample: string, families: Map<string, Family>): Family | undefined {
  const direct = families.get(sample);
  if (direct) return direct;
  const base = sample.replace(/_(bucket|sum|count)$/, '');
  const f = families.get(base);
  return f && (f.type === 'histogram' || f.type === 'summary') ? f : undefined;
}

export function parsePrometheusText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const sampled = new Set<string>();
  text.split('\n').forEach((raw, n) => {
    const where = `line ${n + 1}`;
    const line = raw.trimEnd();
    if (line === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) ?(.*)$/.exec(line);
      if (!m) return; // an ordinary comment
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      let f = families.get(name);
      if (!f) {
        f = { name, type: 'untyped', help: '', samples: [] };
        families.set(name, f);
      }
      if (kind === 'TYPE') {
        if (!TYPES.has(rest)) throw new Error(`${where}: unknown type ${rest}`);
        if (sampled.has(name)) throw new Error(`${where}: TYPE of ${name} after its samples`);
        f.type = rest as Family['type'];
      } else f.help = rest.replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
      return;
    }
    const s = parseSample(line, where);
    let f = familyOf(s.name, families);
    if (!f) {
      f = { name: s.name, type: 'untyped', help: '', samples: [] };
      families.set(s.name, f);
    }
    sampled.add(f.name);
    f.samples.push(s);
  });
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

function checkHistogram(f: Family): void {
  const series = new Map<string, Sample[]>();
  const key = (labels: Record<string, string>) =>
    JSON.stringify(
      Object.entries(labels)
        .filter(([k]) => k !== 'le')
        .sort(),
    );
  for (const s of f.samples) {
    if (!s.name.endsWith('_bucket')) continue;
    if (s.labels.le === undefined) throw new Error(`${f.name}: a bucket without le`);
    const k = key(s.labels);
    series.set(k, [...(series.get(k) ?? []), s]);
  }
  for (const [k, buckets] of series) {
    for (let i = 1; i < buckets.length; i++)
      if (buckets[i]!.value < buckets[i - 1]!.value) throw new Error(`${f.name}${k}: buckets not cumulative`);
    const inf = buckets.at(-1)!;
    if (inf.labels.le !== '+Inf') throw new Error(`${f.name}${k}: last bucket is not le="+Inf"`);
    const count = f.samples.find((s) => s.name === `${f.name}_count` && key(s.labels) === k);
    if (!count || count.value !== inf.value) throw new Error(`${f.name}${k}: _count differs from the +Inf bucket`);
  }
}

/** The sum of a family's samples named `name` whose labels include `match`. */
export function sum(families: Map<string, Family>, name: string, match: Record<string, string> = {}): number {
  const f = familyOf(name, families);
  if (!f) return 0;
  return f.samples
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);
}
