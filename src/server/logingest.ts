/**
 * @module Log ingestion on the server (the gateway's data lane, ./lanes.ts): stores a runner's log
 * batches and acknowledges the highest contiguous seq stored, refuses lines for tasks that are no
 * longer running, and never wedges a task on a store error (the runner is told to resend). Each
 * stored batch also renews the runner's lease, since a paused socket holds its heartbeats back.
 * The event bus gets lines in seq order, once they are contiguous, so a follower never sees a hole
 * filled behind it.
 */
import { toError } from '../core/errors.js';
import type { LogEntry } from '../protocol/messages.js';
import type { LogLine } from '../store/records.js';
import type { ServerContext } from './context.js';
import type { RunnerConnection } from './gateway.js';

/** Out-of-order runs kept in memory per connection; past this the tracker reloads from the store. */
const MAX_RANGES = 1000;

/**
 * Which seqs of a task are stored: everything up to `contiguous`, plus disjoint runs after a hole.
 *
 * @example
 * const t = new SeqTracker(0);
 * t.add([1, 2, 3]); // → { from: 1, to: 3 }
 * t.add([6, 7]);    // → null (4 and 5 missing); contiguous stays 3
 * t.add([4, 5]);    // → { from: 4, to: 7 }
 */
export class SeqTracker {
  private ranges: [number, number][] = [];
  /** Too many holes to track: the caller should reload `contiguous` from the store. */
  overflowed = false;
  constructor(public contiguous: number) {}

  /** Records stored seqs (ascending); returns the range that became contiguous, if any. */
  add(seqs: readonly number[]): { from: number; to: number } | null {
    const before = this.contiguous;
    let i = 0;
    while (i < seqs.length) {
      let j = i;
      while (j + 1 < seqs.length && seqs[j + 1]! <= seqs[j]! + 1) j++;
      this.insert(seqs[i]!, seqs[j]!);
      i = j + 1;
    }
    while (this.ranges.length && this.ranges[0]![0] <= this.contiguous + 1) {
      this.contiguous = Math.max(this.contiguous, this.ranges.shift()![1]);
    }
    if (this.ranges.length > MAX_RANGES) {
      this.ranges = [];
      this.overflowed = true;
    }
    return this.contiguous > before ? { from: before + 1, to: this.contiguous } : null;
  }

  private insert(from: number, to: number): void {
    if (to <= this.contiguous) return;
    const r = this.ranges;
    let k = 0;
    while (k < r.length && r[k]![1] < from - 1) k++;
    let lo = from;
    let hi = to;
    let end = k;
    while (end < r.length && r[end]![0] <= hi + 1) {
      lo = Math.min(lo, r[end]![0]);
      hi = Math.max(hi, r[end]![1]);
      end++;
    }
    r.splice(k, end - k, [lo, hi]);
  }
}

interface ConnState {
  taskId: string;
  tracker: SeqTracker;
  lastRenewal: number;
}

const RUNNING = new Set(['assigned', 'running']);

export class LogIngest {
  private readonly state = new WeakMap<RunnerConnection, ConnState>();

  constructor(private readonly ctx: ServerContext) {}

  async onLogs(conn: RunnerConnection, taskId: string, lines: LogEntry[]): Promise<void> {
    const { store } = this.ctx;
    await this.renewLease(conn);
    const task = await store.tasks.get(taskId);
    if (!task || task.runnerId !== conn.runnerId || !RUNNING.has(task.state)) {
      const state = !task ? 'unknown' : task.runnerId !== conn.runnerId ? 'reassigned' : task.state;
      conn.send({
        type: 'logs.refused',
        taskId,
        state,
        message:
          state === 'unknown' || state === 'reassigned'
            ? `task ${taskId} is not assigned to this runner: its lines are refused`
            : `task ${taskId} is ${task?.state}: it takes no more lines`,
      });
      return;
    }
    let st = this.state.get(conn);
    if (!st || st.taskId !== taskId || st.tracker.overflowed) {
      st = { taskId, tracker: new SeqTracker(await store.logs.contiguousSeq(taskId)), lastRenewal: Date.now() };
      this.state.set(conn, st);
    }
    const tracker = st.tracker;
    // Only what is not known to be stored, in seq order, each seq once.
    const fresh = lines.filter((l) => l.seq > tracker.contiguous).sort((a, b) => a.seq - b.seq);
    const todo = fresh.filter((l, i) => i === 0 || l.seq !== fresh[i - 1]!.seq);
    let inserted: LogLine[] = [];
    try {
      inserted = await store.logs.append(taskId, task.sessionId, todo);
    } catch (e: unknown) {
      this.ctx.log.warn(
        { err: toError(e), taskId, runnerId: conn.runnerId },
        'storing log lines failed; asking for a resend',
      );
      conn.send({ type: 'logs.ack', taskId, seq: tracker.contiguous, resend: true });
      return;
    }
    const grown = tracker.add(todo.map((l) => l.seq));
    conn.send({ type: 'logs.ack', taskId, seq: tracker.contiguous });
    if (!grown) return;
    let out = inserted.filter((l) => l.seq >= grown.from && l.seq <= grown.to);
    // Lines stored earlier out of order (or by another replica) are read back to fill the range.
    if (out.length !== grown.to - grown.from + 1) out = await store.logs.range(taskId, grown.from, grown.to);
    if (out.length) this.ctx.bus.emit('task:logs', { taskId, sessionId: task.sessionId, lines: out });
  }

  /** The lease is renewed by stored batches too: while a socket is paused its heartbeats wait in TCP. */
  private async renewLease(conn: RunnerConnection): Promise<void> {
    const st = this.state.get(conn);
    const now = Date.now();
    if (st && now - st.lastRenewal < this.ctx.config.heartbeatIntervalMs) return;
    if (st) st.lastRenewal = now;
    await this.ctx.store.runners.renewLease(conn.runnerId, now, this.ctx.config.leaseTimeoutMs);
  }
}
