/**
 * @module Log shipping with sequence numbers. Lines get `seq` 1, 2, 3... per task; they stay in
 * memory until the server acknowledges them, and after a reconnect everything after the server's
 * acknowledged seq is sent again, so no line is lost and (the server ignores seqs it has) none is
 * doubled. Sends are batched (up to `maxBatch` lines or `flushMs`).
 */
import type { LogEntry } from '../protocol/messages.js';

/**
 * A batch carries at most this many UTF-16 units of line text (besides `maxBatch` lines), so one
 * frame stays under the gateway's 16 MiB limit even with long lines (JSON escaping included).
 */
const MAX_BATCH_UNITS = 2 * 1024 * 1024;

/** How many of `entries` from `start` fit in one batch (at least one). */
function batchEnd(entries: LogEntry[], start: number, maxBatch: number): number {
  let units = 0;
  let end = start;
  while (end < entries.length && end - start < maxBatch) {
    units += entries[end]!.line.length;
    if (units > MAX_BATCH_UNITS && end > start) break;
    end++;
  }
  return end;
}

export class LogShipper {
  private entries: LogEntry[] = [];
  private nextSeq = 1;
  /** Highest seq handed to the transport. */
  private sentUpTo = 0;
  /** Highest seq the server acknowledged. */
  ackedUpTo = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    readonly taskId: string,
    private readonly send: (taskId: string, lines: LogEntry[]) => boolean,
    private readonly opts: { maxBatch: number; flushMs: number } = { maxBatch: 1000, flushMs: 15 },
  ) {}

  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  /** Lines not yet acknowledged. */
  get pending(): number {
    return this.entries.length;
  }

  push(stream: LogEntry['stream'], line: string): void {
    this.entries.push({ seq: this.nextSeq++, stream, line, ts: Date.now() });
    if (this.lastSeq - this.sentUpTo >= this.opts.maxBatch) this.flush();
    else if (!this.timer) this.timer = setTimeout(() => this.flush(), this.opts.flushMs);
  }

  /** Sends everything not yet sent. Returns false when the transport is down (it is resent later). */
  flush(): boolean {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    while (this.sentUpTo < this.lastSeq) {
      const start = this.entries.findIndex((e) => e.seq > this.sentUpTo);
      if (start < 0) break;
      const batch = this.entries.slice(start, batchEnd(this.entries, start, this.opts.maxBatch));
      if (!this.send(this.taskId, batch)) return false;
      this.sentUpTo = batch[batch.length - 1]!.seq;
    }
    return true;
  }

  ack(seq: number): void {
    if (seq <= this.ackedUpTo) return;
    this.ackedUpTo = seq;
    let drop = 0;
    while (drop < this.entries.length && this.entries[drop]!.seq <= seq) drop++;
    if (drop) this.entries = this.entries.slice(drop);
  }

  /** After a reconnect: the server has everything up to `ackedSeq`; resend the rest. */
  resumeFrom(ackedSeq: number): void {
    this.ack(ackedSeq);
    this.sentUpTo = Math.max(ackedSeq, this.entries.length ? this.entries[0]!.seq - 1 : ackedSeq);
    this.flush();
  }

  /** Whether every line was acknowledged. */
  get drained(): boolean {
    return this.ackedUpTo >= this.lastSeq;
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
