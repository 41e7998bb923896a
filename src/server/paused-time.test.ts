/** Paused time from session events: each pause of the runner until resume, escalation or its end; other runners' and strategies' ignored. */
import { describe, expect, it } from 'vitest';
import { pausedMs } from './paused-time.js';

const ev = (type: string, ts: number, data: Record<string, unknown> = {}) => ({ type, ts, data });

describe('pausedMs', () => {
  it('sums each pause of the runner until its resume, escalation or the end', () => {
    const events = [
      ev('created', 0),
      ev('suspended', 10, { strategy: 'pause', runnerId: 'r' }),
      ev('resumed', 40),
      ev('suspended', 50, { strategy: 'snapshot', runnerId: 'r' }),
      ev('resumed', 60),
      ev('suspended', 70, { strategy: 'pause', runnerId: 'other' }),
      ev('resumed', 75),
      ev('suspended', 80, { strategy: 'pause', runnerId: 'r' }),
      ev('suspend_escalated', 90),
      ev('suspended', 95, { strategy: 'pause', runnerId: 'r' }),
    ];
    expect(pausedMs(events, 'r', 0, 100)).toBe(30 + 10 + 5);
  });

  it('clips to the runner life and is zero with no pause', () => {
    expect(pausedMs([ev('suspended', 10, { strategy: 'pause', runnerId: 'r' }), ev('resumed', 40)], 'r', 20, 30)).toBe(
      10,
    );
    expect(pausedMs([ev('created', 0)], 'r', 0, 100)).toBe(0);
  });
});
