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

export type OutputFormat = 'table' | 'json' | 'yaml';

export interface Column<T> {
  header: string;
  get: (row: T) => unknown;
}

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

export function table<T>(rows: T[], columns: Column<T>[]): string {
  const cells = rows.map((r) => columns.map((c) => cell(c.get(r))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]!.length)));
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
