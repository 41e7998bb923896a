/** @module Tests for choosing which idle sessions give up their runner to waiting ones. */
import { describe, expect, it } from 'vitest';
import { choosePreemptions, type PreemptPolicy, type RunnerHolder, type WaitingSession } from './preempt.js';

function holder(sessionId: string, over: Partial<RunnerHolder> = {}): RunnerHolder {
  return {
    sessionId,
    sessionState: 'idle',
    idleSince: 100,
    openTasks: 0,
    runnerId: `r-${sessionId}`,
    runnerState: 'idle',
    poolId: 'local',
    ...over,
  };
}

function waiting(id: string, over: Partial<WaitingSession> = {}): WaitingSession {
  return { id, priority: 0, queuedAt: 1000, blockedPoolIds: ['local'], ...over };
}

const policy = (over: Partial<PreemptPolicy> = {}): PreemptPolicy => ({
  now: 10_000,
  minIdleMs: 0,
  enabled: () => true,
  ...over,
});

describe('choosePreemptions', () => {
  it('suspends the session idle the longest for a session blocked on its pool', () => {
    const out = choosePreemptions(
      [waiting('w')],
      [holder('recent', { idleSince: 9000 }), holder('oldest', { idleSince: 50 }), holder('mid', { idleSince: 500 })],
      policy(),
    );
    expect(out).toEqual([
      { victim: expect.objectContaining({ sessionId: 'oldest' }), forSessionId: 'w', poolId: 'local', idleMs: 9950 },
    ]);
  });

  it('never takes a session that is active, has open tasks, is not idle, or whose runner is busy', () => {
    const out = choosePreemptions(
      [waiting('w')],
      [
        holder('active', { sessionState: 'active', idleSince: 1 }),
        holder('queued', { openTasks: 1, idleSince: 2 }),
        holder('suspending', { sessionState: 'suspending', idleSince: 3 }),
        holder('busy-runner', { runnerState: 'busy', idleSince: 4 }),
      ],
      policy(),
    );
    expect(out).toEqual([]);
  });

  it('leaves sessions idle for less than minIdleMs alone', () => {
    const hs = [holder('a', { idleSince: 9500 })];
    expect(choosePreemptions([waiting('w')], hs, policy({ minIdleMs: 1000 }))).toEqual([]);
    expect(choosePreemptions([waiting('w')], hs, policy({ minIdleMs: 500 }))).toHaveLength(1);
  });

  it('only in pools where it is enabled, and only in pools the waiting session is blocked on', () => {
    const hs = [holder('off', { poolId: 'p-off', idleSince: 1 }), holder('other', { poolId: 'p-other', idleSince: 2 })];
    expect(
      choosePreemptions([waiting('w', { blockedPoolIds: ['p-off'] })], hs, policy({ enabled: (p) => p !== 'p-off' })),
    ).toEqual([]);
    expect(choosePreemptions([waiting('w', { blockedPoolIds: ['local'] })], hs, policy())).toEqual([]);
    expect(choosePreemptions([waiting('w', { blockedPoolIds: ['p-other'] })], hs, policy())[0]?.victim.sessionId).toBe(
      'other',
    );
  });

  it('one victim per waiting session, each taken once, in queue order (priority, then oldest task)', () => {
    const out = choosePreemptions(
      [
        waiting('late', { queuedAt: 3000 }),
        waiting('early', { queuedAt: 2000 }),
        waiting('urgent', { priority: 5, queuedAt: 9000 }),
      ],
      [holder('h1', { idleSince: 1 }), holder('h2', { idleSince: 2 })],
      policy(),
    );
    expect(out.map((p) => [p.forSessionId, p.victim.sessionId])).toEqual([
      ['urgent', 'h1'],
      ['early', 'h2'],
    ]);
  });

  it('skips holders whose runner does not fit the waiting session', () => {
    const out = choosePreemptions(
      [waiting('w')],
      [holder('x86', { idleSince: 1 }), holder('arm', { idleSince: 2 })],
      policy({ fits: (_w, h) => h.sessionId === 'arm' }),
    );
    expect(out[0]?.victim.sessionId).toBe('arm');
  });

  it('a session never preempts itself', () => {
    expect(choosePreemptions([waiting('s')], [holder('s')], policy())).toEqual([]);
  });
});
