/**
 * @module mctl output: tables for people, JSON and YAML for programs, and a status line on TTYs.
 */
import { createRequire } from 'node:module';

/** mctl exits through this, so output to a pipe is never cut (see src/stdio.ts). */
export { exitWhenFlushed } from '../stdio.js';

/** The YAML printer, loaded only for `-o yaml` (most commands never need the parser). */
function toYaml(data: unknown): string {
  const yaml = createRequire(import.meta.url)('yaml') as typeof import('yaml');
  return yaml.stringify(data);
}

/** `wide` is a table with more columns (commands see it as `table`: see ../context.ts). */
export type OutputFormat = 'table' | 'wide' | 'json' | 'yaml';

export interface Column<T> {
  header: string;
  get: (row: T) => unknown;
  /** Shown only with `-o wide`. */
  wide?: boolean;
  /** Free text (a reason, an error): cut to what is left of the terminal's width (not with `-o wide`). */
  cut?: boolean;
}

/** How tables are drawn in this run: set once by ../context.ts from `-o` and the terminal. */
const style = { wide: false, width: null as number | null };
export function setTableStyle(s: { wide: boolean; width: number | null }): void {
  style.wide = s.wide;
  style.width = s.width;
}

/** The narrowest a cut column gets, whatever the terminal's width. */
const MIN_CUT = 12;

function cell(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return v.length ? v.map(cell).join(',') : '-';
  if (typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>);
    return entries.length ? entries.map(([k, x]) => `${k}=${cell(x)}`).join(',') : '-';
  }
  return String(v);
}

/** `s` cut to `n` characters, the cut marked with `…`. */
export function cutTo(s: string, n: number): string {
  const one = s.replace(/\s*\n\s*/g, ' ');
  return one.length <= n ? one : `${one.slice(0, Math.max(0, n - 1))}…`;
}

/** `full`: no column is cut (`show` and `get` of one thing print it whole). */
export function table<T>(rows: T[], all: Column<T>[], opts: { full?: boolean } = {}): string {
  const columns = all.filter((c) => style.wide || !c.wide);
  const cells = rows.map((r) => columns.map((c) => cell(c.get(r))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]!.length)));
  // Free-text columns share what the others leave of the terminal's width.
  const cuts = columns.flatMap((c, i) => (c.cut ? [i] : []));
  if (!style.wide && !opts.full && style.width && cuts.length) {
    const fixed = widths.reduce((n, w, i) => (cuts.includes(i) ? n : n + w), 0) + 2 * (columns.length - 1);
    const each = Math.max(MIN_CUT, Math.floor((style.width - fixed) / cuts.length));
    for (const i of cuts) {
      for (const r of cells) r[i] = cutTo(r[i]!, each);
      widths[i] = Math.max(columns[i]!.header.length, ...cells.map((r) => r[i]!.length));
    }
  }
  const fmt = (parts: string[]) =>
    parts
      .map((p, i) => (i === parts.length - 1 ? p : p.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [fmt(columns.map((c) => c.header)), ...cells.map(fmt)].join('\n');
}

export function print(format: OutputFormat, data: unknown, human: () => string): void {
  switch (format) {
    case 'json':
      process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
      return;
    case 'yaml':
      process.stdout.write(toYaml(data));
      return;
    case 'table':
    case 'wide':
      process.stdout.write(`${human()}\n`);
      return;
  }
}

export function ago(ts: number | null | undefined): string {
  if (!ts) return '-';
  const s = Math.max(0, Math.round((Date.now() - ts) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** A one-line status on stderr while waiting (only on a TTY). */
export class StatusLine {
  private frame = 0;
  private text = '';
  private timer: NodeJS.Timeout | null = null;
  private readonly started = Date.now();
  constructor(private readonly enabled: boolean) {
    if (enabled) this.timer = setInterval(() => this.render(), 100);
  }
  set(text: string): void {
    this.text = text;
  }
  private render(): void {
    const secs = Math.round((Date.now() - this.started) / 1000);
    process.stderr.write(`\r\x1b[2K${FRAMES[this.frame++ % FRAMES.length]} ${this.text} (${secs}s)`);
  }
  /** Clears the line so log output can be written. */
  clear(): void {
    if (this.enabled) process.stderr.write('\r\x1b[2K');
  }
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.clear();
  }
}
