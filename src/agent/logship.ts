/**
 * @module Log shipping with sequence numbers and flow control. Lines get `seq` 1, 2, 3... per task;
 * they stay in memory until the server acknowledges them, and after a reconnect (or when the server
 * asks for a resend) everything after the server's acknowledged seq is sent again, so no line is
 * lost and (the server ignores seqs it has) none is doubled. Sends are batched (up to `maxBatchLines`
 * lines or about `maxBatchBytes` of JSON, or after `flushMs`).
 *
 * Memory is bounded whatever the task prints: at most `windowLines` lines or `windowBytes` bytes
 * wait for an ack. When the window is full `onPressure(true)` asks the task's pipes to pause (the
 * task then blocks in `write()`); when acks bring it under half, `onPressure(false)` resumes them.
 *
 * Per-task output limits: past `limits.lines` stdout/stderr lines or `limits.bytes` bytes, a
 * `system` line says so, `onLimit` is called (the agent stops the task: it ends `failed` with
 * that message) and further stdout/stderr is discarded (counted, not shipped); what was logged is
 * kept. `finish()` adds a closing `system` line with the count.
 */
import type { LogEntry } from '../protocol/messages.js';

export interface OutputLimits {
  /** stdout + stderr lines kept per task. */
  lines: number;
  /** stdout + stderr bytes (UTF-8, newline included) kept per task. */
  bytes: number;
}

/** The defaults when the server's assignment names none (documented in docs/config.md). */
export const DEFAULT_OUTPUT_LIMITS: OutputLimits = { lines: 5_000_000, bytes: 512 * 1024 * 1024 };

export interface ShipperOptions {
  maxBatchLines: number;
  maxBatchBytes: number;
  flushMs: number;
  windowLines: number;
  windowBytes: number;
  limits: OutputLimits;
}

export const DEFAULT_SHIPPER_OPTIONS: ShipperOptions = {
  maxBatchLines: 1000,
  maxBatchBytes: 256 * 1024,
  flushMs: 5,
  windowLines: 5_000,
  windowBytes: 2 * 1024 * 1024,
  limits: DEFAULT_OUTPUT_LIMITS,
};

/** A JSON size estimate for one entry: the line (worst case 6 bytes per code unit is rare) plus the envelope. */
const entrySize = (line: string) => line.length + 64;

export class LogShipper {
  /** Unacknowledged entries: `entries[head]` has seq `ackedUpTo + 1`, the rest follow in order. */
  private entries: LogEntry[] = [];
  private head = 0;
  private unackedBytes = 0;
  private nextSeq = 1;
  /** Highest seq handed to the transport. */
  private sentUpTo = 0;
  /** Highest seq the server acknowledged. */
  ackedUpTo = 0;
  private timer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private pressured = false;
  private disposed = false;
  /** The output limit was reached: later stdout/stderr is discarded. */
  private limitReached = false;
  private readonly opts: ShipperOptions;
  /** stdout/stderr output counted against the limits, and what was discarded past them. */
  readonly output = { lines: 0, bytes: 0, discardedLines: 0, discardedBytes: 0 };

  constructor(
    readonly taskId: string,
    private readonly send: (taskId: string, lines: LogEntry[]) => boolean,
    opts: Partial<ShipperOptions> = {},
    private readonly onPressure: (paused: boolean) => void = () => {},
    private readonly onLimit: (message: string) => void = () => {},
  ) {
    this.opts = { ...DEFAULT_SHIPPER_OPTIONS, ...opts };
  }

  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  /** Lines not yet acknowledged. */
  get pending(): number {
    return this.entries.length - this.head;
  }

  push(stream: LogEntry['stream'], line: string): void {
    if (this.disposed) return;
    if (stream !== 'system') {
      const bytes = Buffer.byteLength(line) + 1;
      const { limits } = this.opts;
      if (this.limitReached || this.output.lines + 1 > limits.lines || this.output.bytes + bytes > limits.bytes) {
        if (!this.limitReached) {
          this.limitReached = true;
          const message = `output limit reached after ${this.output.lines} lines / ${this.output.bytes} bytes (limits: ${limits.lines} lines, ${limits.bytes} bytes per task): the task is stopped; what it printed so far is kept`;
          this.append('system', message);
          this.onLimit(message);
        }
        this.output.discardedLines++;
        this.output.discardedBytes += bytes;
        return;
      }
      this.output.lines++;
      this.output.bytes += bytes;
    }
    this.append(stream, line);
  }

  /** Adds the closing note when output was discarded (call once the task has ended). */
  finish(): void {
    const o = this.output;
    if (o.discardedLines)
      this.append('system', `discarded ${o.discardedLines} lines (${o.discardedBytes} bytes) past the output limit`);
  }

  private append(stream: LogEntry['stream'], line: string): void {
    if (this.disposed) return;
    this.entries.push({ seq: this.nextSeq++, stream, line, ts: Date.now() });
    this.unackedBytes += entrySize(line);
    if (!this.pressured && (this.pending >= this.opts.windowLines || this.unackedBytes >= this.opts.windowBytes)) {
      this.pressured = true;
      this.onPressure(true);
    }
    if (this.lastSeq - this.sentUpTo >= this.opts.maxBatchLines) this.flush();
    else if (!this.timer) this.timer = setTimeout(() => this.flush(), this.opts.flushMs);
  }

  /** Sends everything not yet sent. Returns false when the transport is down (it is resent later). */
  flush(): boolean {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    while (this.sentUpTo < this.lastSeq && this.pending > 0) {
      const first = this.entries[this.head]!.seq;
      let i = this.head + Math.max(0, this.sentUpTo + 1 - first);
      const start = i;
      let size = 0;
      while (i < this.entries.length && i - start < this.opts.maxBatchLines) {
        const s = entrySize(this.entries[i]!.line);
        if (i > start && size + s > this.opts.maxBatchBytes) break;
        size += s;
        i++;
      }
      const batch = this.entries.slice(start, i);
      if (!this.send(this.taskId, batch)) return false;
      this.sentUpTo = batch[batch.length - 1]!.seq;
    }
    return true;
  }

  ack(seq: number): void {
    if (seq <= this.ackedUpTo) return;
    this.ackedUpTo = Math.min(seq, this.lastSeq);
    while (this.head < this.entries.length && this.entries[this.head]!.seq <= this.ackedUpTo) {
      this.unackedBytes -= entrySize(this.entries[this.head]!.line);
      this.head++;
    }
    if (this.head > 4096 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    if (this.pending === 0) this.unackedBytes = 0;
    if (
      this.pressured &&
      this.pending <= this.opts.windowLines / 2 &&
      this.unackedBytes <= this.opts.windowBytes / 2 &&
      !this.disposed
    ) {
      this.pressured = false;
      this.onPressure(false);
    }
  }

  /** After a reconnect: the server has everything up to `ackedSeq`; resend the rest. */
  resumeFrom(ackedSeq: number): void {
    this.ack(ackedSeq);
    this.sentUpTo = this.ackedUpTo;
    this.flush();
  }

  /** The server could not store what followed its ack: send it again after `ms`. */
  resendAfter(ms: number): void {
    if (this.retryTimer || this.disposed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.sentUpTo = this.ackedUpTo;
      this.flush();
    }, ms);
  }

  /** Whether every line was acknowledged. */
  get drained(): boolean {
    return this.ackedUpTo >= this.lastSeq;
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.timer = null;
    this.retryTimer = null;
    this.entries = [];
    this.head = 0;
    if (this.pressured) {
      this.pressured = false;
      this.onPressure(false);
    }
  }
}
