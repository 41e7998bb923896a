/**
 * @module The assigner's queue order, kept sorted between passes: higher priority first; within a
 * priority, the entry whose oldest queued task was created first (`first`, Infinity when nothing is
 * queued); then creation time; then id. Entries change a few at a time while the queue can be
 * thousands long, so each change is a binary search and a splice instead of a sort per pass.
 */

/** What orders an entry. */
export interface QueueKey {
  id: string;
  priority: number;
  /** Creation time of the entry's oldest queued task (Infinity: none). */
  first: number;
  createdAt: number;
}

/** Negative when `a` goes before `b`. */
export function compareQueueKeys(a: QueueKey, b: QueueKey): number {
  return (
    b.priority - a.priority ||
    (a.first === b.first ? 0 : a.first < b.first ? -1 : 1) ||
    a.createdAt - b.createdAt ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}

/** A set of entries by id, iterable in queue order. */
export class QueueOrder<T extends QueueKey> {
  private readonly sorted: T[] = [];
  private readonly byId = new Map<string, T>();

  get size(): number {
    return this.sorted.length;
  }

  get(id: string): T | undefined {
    return this.byId.get(id);
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  /** Adds an entry, or replaces the one with its id (which may move). */
  set(entry: T): void {
    this.delete(entry.id);
    this.sorted.splice(this.position(entry), 0, entry);
    this.byId.set(entry.id, entry);
  }

  delete(id: string): boolean {
    const old = this.byId.get(id);
    if (!old) return false;
    const i = this.position(old);
    // `position` finds the first slot not before `old`, which is `old` itself (keys are unique by id).
    if (this.sorted[i] !== old) throw new Error(`queue order lost entry ${id}`);
    this.sorted.splice(i, 1);
    this.byId.delete(id);
    return true;
  }

  /** Replaces everything with `entries` (one sort). */
  reset(entries: Iterable<T>): void {
    this.byId.clear();
    for (const e of entries) this.byId.set(e.id, e);
    this.sorted.length = 0;
    this.sorted.push(...this.byId.values());
    this.sorted.sort(compareQueueKeys);
  }

  /** The entries in order (a copy: the queue may change while the caller walks it). */
  ordered(): T[] {
    return this.sorted.slice();
  }

  /** Index of the first entry that does not go before `key`. */
  private position(key: QueueKey): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareQueueKeys(this.sorted[mid] as T, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
