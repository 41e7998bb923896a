/**
 * @module The runner's table of running session ops (exec, cp, pty: ./session-ops.ts) and their
 * flow control. Output: at most {@link OUTPUT_WINDOW} characters of `session.op.output` may be
 * sent and not yet acknowledged by the server (`session.op.ack`, sent once it passed them on to
 * the client); past that the op's source (the command's pipes, tar's stdout, the terminal) is
 * paused until the server has caught up to half the window. So a slow client slows the command
 * down instead of filling the runner's or the server's memory. The table also routes the server's
 * `session.op.cancel` (kill it), `session.op.input` (bytes for a put or a terminal) and
 * `session.op.resize` to the op they name; frames for an op no longer running are dropped.
 */
import type { RunnerMessage } from '../protocol/messages.js';

/** Characters of output an op may have sent and not yet had acknowledged. */
export const OUTPUT_WINDOW = 2 * 1024 * 1024;

/** Characters per output frame (under the frame's 1 MiB bound). */
const FRAME_CHARS = 64 * 1024;

export type Send = (m: RunnerMessage) => boolean;

/** What a running op does with the server's frames for it (each optional). */
export interface OpHandlers {
  /** Stop now (kill the process group); the op still ends with its `done`. */
  cancel?(): void;
  /** The next input bytes (base64), in order; `eof` on the last. */
  input?(data: string, eof: boolean): void;
  resize?(cols: number, rows: number): void;
}

/** One op's output channel: frames out, the window, and the pause/resume of its source. */
export class OpOutput {
  private unacked = 0;
  private paused = false;
  private pauseFn: (() => void) | null = null;
  private resumeFn: (() => void) | null = null;
  handlers: OpHandlers = {};
  /** Input that came before the op took it (its sandbox still being made): bounded by the server's input window. */
  private early: [string, boolean][] = [];

  constructor(
    readonly ref: string,
    private readonly send: Send,
  ) {}

  /** The source to pause when the window is full (and resume when it has room). */
  source(pause: () => void, resume: () => void): void {
    this.pauseFn = pause;
    this.resumeFn = resume;
    if (this.paused) pause();
  }

  write(stream: 'stdout' | 'stderr', text: string): void {
    for (let i = 0; i < text.length; i += FRAME_CHARS) {
      const data = text.slice(i, i + FRAME_CHARS);
      this.send({ type: 'session.op.output', ref: this.ref, stream, data });
      this.unacked += data.length;
    }
    if (!this.paused && this.unacked > OUTPUT_WINDOW) {
      this.paused = true;
      this.pauseFn?.();
    }
  }

  ack(bytes: number): void {
    this.unacked = Math.max(0, this.unacked - bytes);
    if (this.paused && this.unacked <= OUTPUT_WINDOW / 2) {
      this.paused = false;
      this.resumeFn?.();
    }
  }

  /** Input for the op: to its handler, or kept until it has one (then given in order). */
  input(data: string, eof: boolean): void {
    if (this.handlers.input) this.handlers.input(data, eof);
    else this.early.push([data, eof]);
  }

  /** Sets the op's input handler and gives it what came before. */
  takeInput(fn: (data: string, eof: boolean) => void): void {
    this.handlers.input = fn;
    const early = this.early;
    this.early = [];
    for (const [d, e] of early) fn(d, e);
  }

  /** Characters sent and not yet acknowledged (tests, diagnostics). */
  get inFlight(): number {
    return this.unacked;
  }
}

const running = new Map<string, OpOutput>();

/** Registers op `ref`; `end()` removes it (call it when the op sends its `done`). */
export function openOp(ref: string, send: Send): { out: OpOutput; end(): void } {
  const out = new OpOutput(ref, send);
  running.set(ref, out);
  return { out, end: () => running.delete(ref) };
}

/** A server frame for a running op, routed to it (dropped when it is not running). */
export function opFrame(
  msg:
    | { type: 'session.op.cancel'; ref: string }
    | { type: 'session.op.ack'; ref: string; bytes: number }
    | { type: 'session.op.input'; ref: string; data: string; eof: boolean }
    | { type: 'session.op.resize'; ref: string; cols: number; rows: number },
): void {
  const op = running.get(msg.ref);
  if (!op) return;
  switch (msg.type) {
    case 'session.op.cancel':
      op.handlers.cancel?.();
      return;
    case 'session.op.ack':
      op.ack(msg.bytes);
      return;
    case 'session.op.input':
      op.input(msg.data, msg.eof);
      return;
    case 'session.op.resize':
      op.handlers.resize?.(msg.cols, msg.rows);
      return;
  }
}

/** How many ops are running (tests). */
export function runningOps(): number {
  return running.size;
}
