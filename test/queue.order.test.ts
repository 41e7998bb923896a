/**
 * QueueOrder, the assigner's incrementally sorted queue: after any sequence of adds, moves and
 * removals it holds exactly the live entries, in the same order a full sort gives.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareQueueKeys, type QueueKey, QueueOrder } from '../src/core/queue.js';

const key = fc.record({
  id: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'),
  priority: fc.integer({ min: -2, max: 2 }),
  // Many ties on purpose: sessions created in the same millisecond are the common case.
  first: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constant(Number.POSITIVE_INFINITY)),
  createdAt: fc.integer({ min: 0, max: 3 }),
});
const op = fc.oneof(
  key.map((k) => ({ kind: 'set' as const, k })),
  fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h').map((id) => ({ kind: 'delete' as const, id })),
);

describe('QueueOrder', () => {
  it('matches a full sort after any sequence of sets and deletes', () => {
    fc.assert(
      fc.property(fc.array(key), fc.array(op, { maxLength: 60 }), (initial, ops) => {
        const q = new QueueOrder<QueueKey>();
        const model = new Map<string, QueueKey>();
        for (const k of initial) model.set(k.id, k);
        q.reset(initial);
        for (const o of ops) {
          if (o.kind === 'set') {
            q.set(o.k);
            model.set(o.k.id, o.k);
          } else expect(q.delete(o.id)).toBe(model.delete(o.id));
        }
        const want = [...model.values()].sort(compareQueueKeys);
        expect(q.ordered()).toEqual(want);
        expect(q.size).toBe(model.size);
        for (const [id, k] of model) expect(q.get(id)).toBe(k);
      }),
    );
  });

  it('puts higher priority first, then the oldest queued task, with nothing queued last', () => {
    const q = new QueueOrder<QueueKey>();
    q.set({ id: 'idle', priority: 0, first: Number.POSITIVE_INFINITY, createdAt: 0 });
    q.set({ id: 'late', priority: 0, first: 20, createdAt: 1 });
    q.set({ id: 'early', priority: 0, first: 10, createdAt: 2 });
    q.set({ id: 'urgent', priority: 5, first: 30, createdAt: 3 });
    expect(q.ordered().map((e) => e.id)).toEqual(['urgent', 'early', 'late', 'idle']);
    q.set({ id: 'late', priority: 0, first: 5, createdAt: 1 });
    expect(q.ordered().map((e) => e.id)).toEqual(['urgent', 'late', 'early', 'idle']);
  });
});
