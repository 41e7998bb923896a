/**
 * @module How long a runner's sandbox was paused, read from its session's events (`suspended`
 * with strategy `pause` naming the runner, until the next `resumed`, `suspend_escalated` or the
 * runner's end), so a provider that bills nothing while paused (`idleCostModel: zero`, E2B) is
 * charged only for the time its sandbox ran. No column holds it: the events already do.
 */
/** What is read of a session event. */
export interface EventView {
  type: string;
  ts: number;
  data: unknown;
}

/**
 * Milliseconds of `[start, end]` the runner spent paused.
 * @example pausedMs([{ type: 'suspended', ts: 10, data: { strategy: 'pause', runnerId: 'r' } }, { type: 'resumed', ts: 40, data: {} }], 'r', 0, 100) === 30
 */
export function pausedMs(events: readonly EventView[], runnerId: string, start: number, end: number): number {
  let total = 0;
  let since: number | null = null;
  for (const e of events) {
    const d = (e.data ?? {}) as Record<string, unknown>;
    if (since === null && e.type === 'suspended' && d.strategy === 'pause' && d.runnerId === runnerId) since = e.ts;
    else if (since !== null && (e.type === 'resumed' || e.type === 'suspend_escalated')) {
      total += Math.max(0, Math.min(e.ts, end) - Math.max(since, start));
      since = null;
    }
  }
  if (since !== null) total += Math.max(0, end - Math.max(since, start));
  return Math.min(total, Math.max(0, end - start));
}
