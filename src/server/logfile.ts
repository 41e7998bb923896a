/**
 * @module The server log's destination (`$MARIONETTE_HOME/server.log`): asynchronous appends with
 * a bounded buffer, that never block and never loop on a write error. When the disk is full
 * (ENOSPC) or the file cannot be written, lines are dropped and counted, the problem is reported
 * (GET /v1/healthz shows it), and writing is tried again a little later; the first write that
 * works notes how many lines were lost. On exit one synchronous attempt is made, never more.
 *
 * (pino's own file destination retries a failed synchronous flush forever on exit, so a full disk
 * left the server hung with its ports bound.)
 */
import { closeSync, fchmodSync, mkdirSync, openSync, write, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { toError } from '../core/errors.js';

export interface LogFileOptions {
  /** Most bytes kept waiting for the disk; past it, new lines are dropped. Default 4 MiB. */
  maxBufferBytes?: number;
  /** After a failed write, how long to drop lines before trying again. Default 1 s. */
  retryAfterMs?: number;
  /** Called with the error when writing starts failing, and with null once it works again. */
  onStatus?: (err: Error | null) => void;
}

/** A pino destination (it has `write`) that appends to a file without ever blocking. */
export class LogFile {
  private fd: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private writing = false;
  private failedUntil = 0;
  private failure: Error | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private dropped = 0;
  private closed = false;
  private readonly maxBufferBytes: number;
  private readonly retryAfterMs: number;
  private readonly flushWaiters: (() => void)[] = [];

  constructor(
    readonly path: string,
    private readonly opts: LogFileOptions = {},
  ) {
    this.maxBufferBytes = opts.maxBufferBytes ?? 4 * 1024 * 1024;
    this.retryAfterMs = opts.retryAfterMs ?? 1000;
    mkdirSync(dirname(path), { recursive: true });
    // Opening does not write, so it works on a full disk too.
    this.fd = openSync(path, 'a', 0o600);
    // A log an older version left 0644 is narrowed too: it may hold anything the server logged.
    fchmodSync(this.fd, 0o600);
  }

  /** Lines dropped since the last successful write. */
  get droppedLines(): number {
    return this.dropped;
  }

  /** The error writes are failing with, or null. */
  get error(): Error | null {
    return this.failure;
  }

  write(line: string): boolean {
    if (this.closed) return false;
    const now = Date.now();
    if (this.failure && now < this.failedUntil) {
      this.dropped++;
      return true;
    }
    const buf = Buffer.from(line);
    if (this.pendingBytes + buf.length > this.maxBufferBytes) {
      this.dropped++;
      return true;
    }
    this.pending.push(buf);
    this.pendingBytes += buf.length;
    if (!this.writing) this.next();
    return true;
  }

  /** Calls back once what is buffered now has been written or dropped (pino's `logger.flush(cb)`). */
  flush(cb?: (err?: Error) => void): void {
    if (!this.writing && this.pending.length === 0) {
      cb?.();
      return;
    }
    this.flushWaiters.push(() => cb?.());
  }

  private next(): void {
    if (this.closed) {
      // close() waited for the write under way before closing the file (its number could be reused).
      this.writing = false;
      this.closeFd();
      return;
    }
    if (this.pending.length === 0) {
      this.writing = false;
      for (const w of this.flushWaiters.splice(0)) w();
      return;
    }
    this.writing = true;
    const chunk = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    const lines = this.pending.length;
    this.pending = [];
    this.pendingBytes = 0;
    write(this.fd, chunk, 0, chunk.length, null, (err, n) => {
      if (err) {
        this.fail(err, lines);
      } else if (n < chunk.length) {
        // A short write: the rest goes first next time (the disk may be filling up).
        const rest = chunk.subarray(n);
        this.pending.unshift(rest);
        this.pendingBytes += rest.length;
      } else if (this.failure) {
        this.recovered();
      }
      this.next();
    });
  }

  private fail(err: Error, lines: number): void {
    this.dropped += lines + this.pending.length;
    this.pending = [];
    this.pendingBytes = 0;
    this.failedUntil = Date.now() + this.retryAfterMs;
    const first = this.failure === null;
    this.failure = err;
    if (first) this.opts.onStatus?.(err);
    // Try again by itself, so recovery is seen even when nothing else is logged.
    if (!this.retryTimer && !this.closed) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        if (this.closed || !this.failure || this.writing) return;
        this.queueNote(`server.log writes failed (${this.failure.message}); trying again`);
        this.next();
      }, this.retryAfterMs);
      this.retryTimer.unref();
    }
  }

  private recovered(): void {
    const dropped = this.dropped;
    this.failure = null;
    this.dropped = 0;
    if (dropped > 0)
      this.queueNote(`server.log can be written again; ${dropped} log lines were dropped while it could not`);
    this.opts.onStatus?.(null);
  }

  /** Puts a warning line of the log's own at the head of the queue. */
  private queueNote(msg: string): void {
    const note = Buffer.from(`${JSON.stringify({ level: 40, time: Date.now(), svc: 'marionette', msg })}\n`);
    this.pending.unshift(note);
    this.pendingBytes += note.length;
  }

  /** One synchronous attempt to write what is buffered (at exit). Never retries, never throws. */
  flushSync(): void {
    if (this.closed || this.pending.length === 0) return;
    const chunk = Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    try {
      writeSync(this.fd, chunk);
    } catch (e: unknown) {
      this.failure = toError(e);
    }
  }

  /**
   * Waits (at most `waitMs`) for the write under way and what is queued behind it, then writes
   * what is left synchronously, once, and closes the file. Never retries, never throws.
   */
  async close(waitMs = 1000): Promise<void> {
    if (this.closed) return;
    if (this.writing) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.flush(() => resolve())),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, waitMs);
        }),
      ]);
      clearTimeout(timer);
    }
    this.closeNow();
  }

  /** Writes what is queued synchronously, once, and closes the file (a write under way finishes first). */
  closeNow(): void {
    if (this.closed) return;
    this.flushSync();
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    for (const w of this.flushWaiters.splice(0)) w();
    if (!this.writing) this.closeFd();
  }

  private closeFd(): void {
    if (this.fd < 0) return;
    try {
      closeSync(this.fd);
    } catch {
      /* already closed */
    }
    this.fd = -1;
  }
}
