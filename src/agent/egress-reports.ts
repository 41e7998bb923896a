/**
 * @module What a task's egress proxy refused, on its way to the server (`egress.denied`): batched
 * per task and per host, port and method with a count, sent at most every `intervalMs`, so a task
 * retrying a denied host in a loop costs one small frame per interval, not one per attempt. What
 * cannot be sent (the server is out of reach) waits for the next flush, bounded.
 */
import type { EgressDenial } from '../egress/proxy.js';
import type { RunnerMessage } from '../protocol/messages.js';

type Report = Extract<RunnerMessage, { type: 'egress.denied' }>;
type Entry = Report['denials'][number];

/** Distinct host/port/method entries kept per task between flushes (past it, only counts grow). */
const MAX_ENTRIES = 100;

export class EgressReports {
  private readonly pending = new Map<string, Map<string, Entry>>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly send: (r: Report) => boolean,
    private readonly intervalMs = 250,
  ) {}

  /** Counts one refusal of `taskId`'s proxy; sent with the next flush. */
  push(taskId: string, d: EgressDenial): void {
    let byKey = this.pending.get(taskId);
    if (!byKey) {
      byKey = new Map();
      this.pending.set(taskId, byKey);
    }
    const key = `${d.method} ${d.host}:${d.port}`;
    const e = byKey.get(key);
    if (e) {
      e.count++;
      e.at = d.at;
    } else if (byKey.size < MAX_ENTRIES)
      byKey.set(key, { host: d.host.slice(0, 300), port: d.port, method: d.method.slice(0, 32), at: d.at, count: 1 });
    else {
      const first = byKey.values().next().value as Entry;
      first.count++;
    }
    this.timer ??= setTimeout(() => this.flush(), this.intervalMs);
    this.timer.unref();
  }

  /** Sends what is pending; what could not be sent is kept for the next flush. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const [taskId, byKey] of this.pending) {
      if (!this.send({ type: 'egress.denied', taskId, denials: [...byKey.values()] })) continue;
      this.pending.delete(taskId);
    }
    if (this.pending.size > 0) {
      this.timer = setTimeout(() => this.flush(), Math.max(this.intervalMs, 1000));
      this.timer.unref();
    }
  }

  /** Stops the timer (agent shutdown). */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
