/**
 * @module The order an assigner pass visits sessions in, for a whole set at once (the assigner
 * itself keeps this order as it goes, in a QueueOrder; see src/server/assigner.ts).
 */
import { QueueOrder } from './queue.js';

/**
 * The order an assigner pass visits sessions in: higher `priority` first; within a priority, the
 * session whose oldest queued task was created first (a retry keeps its original creation time,
 * so a re-queued task does not lose its place); sessions with nothing queued come last.
 */
export function passOrder<S extends { id: string; priority: number; createdAt: number }>(
  sessions: Map<string, S>,
  firstQueued: Map<string, { createdAt: number }>,
): S[] {
  const q = new QueueOrder<S & { first: number }>();
  q.reset(
    [...sessions.values()].map((s) => ({ ...s, first: firstQueued.get(s.id)?.createdAt ?? Number.POSITIVE_INFINITY })),
  );
  return q.ordered();
}
