/**
 * The pure parts of the matcher and the warm-pool autoscaler: the order an assigner pass visits
 * sessions in (priority, then FIFO by the oldest queued task) and the scale plan of a pool.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type PlanRunner, planPool } from './autoscale-plan.js';
import { assignableCapacity, type CapacityRunner } from './capacity.js';
import { passOrder } from './pass-order.js';
import type { Pool } from './types.js';

const session = (id: string, priority: number | undefined, createdAt = 0) => ({
  id,
  createdAt,
  priority: priority ?? 0,
});
const task = (sessionId: string, createdAt: number) => ({ id: `t-${sessionId}`, sessionId, createdAt });

describe('passOrder', () => {
  it('visits higher priority first, FIFO by oldest queued task within a priority (unqueued last within theirs)', () => {
    const sessions = new Map(
      [session('a', 0), session('b', 5), session('c', 0), session('d', 5), session('e', 9, -1)].map((s) => [s.id, s]),
    );
    const queued = new Map([
      ['a', task('a', 10)],
      ['b', task('b', 30)],
      ['c', task('c', 5)],
      ['d', task('d', 20)],
    ]);
    expect(passOrder(sessions, queued).map((s) => s.id)).toEqual(['e', 'd', 'b', 'c', 'a']);
  });

  it('is a total order consistent with (priority desc, first task asc) for any input', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ p: fc.integer({ min: -2, max: 2 }), t: fc.integer({ min: 0, max: 50 }) }), {
          maxLength: 40,
        }),
        (rows) => {
          const sessions = new Map(rows.map((r, i) => [`s${i}`, session(`s${i}`, r.p)]));
          const queued = new Map(rows.map((r, i) => [`s${i}`, task(`s${i}`, r.t)]));
          const order = passOrder(sessions, queued);
          expect(order).toHaveLength(rows.length);
          for (let i = 1; i < order.length; i++) {
            const a = order[i - 1]!;
            const b = order[i]!;
            const pa = a.priority;
            const pb = b.priority;
            expect(pa >= pb).toBe(true);
            if (pa === pb) expect(queued.get(a.id)!.createdAt <= queued.get(b.id)!.createdAt).toBe(true);
          }
        },
      ),
    );
  });
});

describe('assignableCapacity', () => {
  const pool = (id: string, mode: string, maxRunners: number | null, active = true) =>
    ({ id, mode, maxRunners, active }) as unknown as Pool;
  const live = (id: string, poolId: string, state: string, sessionId: string | null = null, draining = false) =>
    ({ id, poolId, state, sessionId, draining }) as unknown as CapacityRunner;

  it('counts, per pool, idle unbound runners plus free slots of active managed pools', () => {
    const cap = assignableCapacity({
      pools: [pool('gpu', 'pool', null), pool('local', 'managed', 8, false), pool('dock', 'managed', 3)],
      live: [
        live('a', 'gpu', 'idle'),
        live('b', 'gpu', 'idle', 'ses_1'), // bound to a session
        live('c', 'gpu', 'busy'),
        live('d', 'gpu', 'idle', null, true), // draining
        live('e', 'dock', 'busy'),
      ],
    });
    expect(cap.get('gpu')).toBe(1);
    // An inactive managed pool can take nothing, however many slots it has.
    expect(cap.get('local') ?? 0).toBe(0);
    expect(cap.get('dock')).toBe(2);
  });

  it('an active managed pool without max_runners is unlimited', () => {
    expect(assignableCapacity({ pools: [pool('k8s', 'managed', null)], live: [] }).get('k8s')).toBe(
      Number.POSITIVE_INFINITY,
    );
  });
});

type R = PlanRunner;
const r = (id: string, state: string, idleSince: number | null = null, sessionId: string | null = null): R =>
  ({ id, state, sessionId, idleSince, draining: false }) as R;

describe('planPool', () => {
  const pool = { minRunners: 2, maxRunners: 4, idleTimeoutMs: 1000, active: true };
  it('starts min_runners from nothing', () => {
    expect(planPool(pool, [], 0)).toEqual({ provision: 2, reap: [] });
  });
  it('counts runners still starting as warm', () => {
    expect(planPool(pool, [r('a', 'provisioning'), r('b', 'connecting')], 0)).toEqual({ provision: 0, reap: [] });
  });
  it('replaces warm runners taken by sessions, within max_runners', () => {
    const bound = [r('a', 'busy', null, 's1'), r('b', 'busy', null, 's2'), r('c', 'busy', null, 's3')];
    expect(planPool(pool, bound, 0)).toEqual({ provision: 1, reap: [] });
  });
  it('reaps only idle unbound runners past idle_timeout, oldest first, never below min', () => {
    const live = [r('a', 'idle', 100), r('b', 'idle', 50), r('c', 'idle', 900), r('d', 'idle', 10)];
    expect(planPool(pool, live, 1500)).toEqual({ provision: 0, reap: ['d', 'b'] });
    expect(planPool(pool, live, 1020)).toEqual({ provision: 0, reap: ['d'] }); // b idle 970 ms < 1000
    expect(planPool({ ...pool, idleTimeoutMs: null }, live, 1e9)).toEqual({ provision: 0, reap: [] });
  });
  it('an inactive pool keeps nothing warm', () => {
    expect(planPool({ ...pool, active: false }, [r('a', 'idle', 0)], 1)).toEqual({ provision: 0, reap: ['a'] });
  });
  it('never plans past max_runners', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5 }),
        fc.integer({ min: 0, max: 8 }),
        fc.array(fc.constantFrom('provisioning', 'idle', 'busy'), { maxLength: 10 }),
        (min, extra, states) => {
          const max = min + extra;
          const live = states.map((s, i) => r(`r${i}`, s, 0, s === 'busy' ? `s${i}` : null));
          const plan = planPool({ minRunners: min, maxRunners: max, idleTimeoutMs: 0, active: true }, live, 10);
          expect(live.length - plan.reap.length + plan.provision).toBeLessThanOrEqual(Math.max(max, live.length));
          if (plan.provision > 0) expect(live.length + plan.provision).toBeLessThanOrEqual(max);
        },
      ),
    );
  });
});
