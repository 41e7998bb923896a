/**
 * @module Mark-and-sweep garbage collection of a content store.
 *
 * Mark: every object reachable from the kept snapshots' manifest ids (the root, its manifest
 * chunks, every file chunk). A kept manifest that cannot be read whole (missing or corrupt) stops
 * the collection before anything is deleted: its chunks cannot be told apart from garbage.
 *
 * Sweep: an object that is not marked is deleted only when its modification time is older than
 * the start of the collection minus the grace period; just before each batch is deleted its time
 * is read again (`stat`) and anything renewed since the listing is kept.
 *
 * Why this is safe against uploads running meanwhile: a new object is younger than the grace
 * period; an old object a writer relies on was confirmed by `has` or `put`, which renew its time
 * when it is older than the backend's `refreshAfterMs` (default 1 hour). So while
 * `graceMs > refreshAfterMs + the longest snapshot`, nothing a snapshot in progress references
 * can be swept, even though its manifest is not among the roots yet. The default grace (24 hours)
 * leaves 23 hours for a snapshot.
 */
import { readManifest, readManifestRoot } from './manifest.js';
import type { ChunkBackend, ChunkSource } from './types.js';

export interface GcOptions {
  /** Manifest ids of every snapshot that is kept. */
  roots: Iterable<string> | AsyncIterable<string>;
  /** Unmarked objects younger than this are kept. Default 24 hours. */
  graceMs?: number;
  /** Report what would be freed, delete nothing. */
  dryRun?: boolean;
  /** Objects deleted per call (default 500). */
  batchSize?: number;
  /** The collection's start time (tests). Default now. */
  now?: number;
}

export interface GcResult {
  /** Kept snapshots read. */
  roots: number;
  /** Objects reachable from them. */
  marked: number;
  /** Objects the backend listed. */
  scanned: number;
  /** Unmarked objects kept because they are younger than the grace period (or were renewed). */
  young: number;
  /** Objects deleted (or, with dryRun, that would be). */
  deleted: number;
  /** Stored bytes of those objects, when the backend lists sizes. */
  bytesFreed: number;
  dryRun: boolean;
}

export const DEFAULT_GC_GRACE_MS = 24 * 3_600_000;

/** Thrown when a kept snapshot cannot be read whole: nothing was deleted. */
export class GcAborted extends Error {
  constructor(
    readonly manifestId: string,
    cause: unknown,
  ) {
    super(
      `garbage collection stopped before deleting anything: kept snapshot ${manifestId} cannot be read (${cause instanceof Error ? cause.message : String(cause)})`,
    );
    this.name = 'GcAborted';
  }
}

/** Every object id reachable from one manifest, added to `into`. */
export async function markManifest(source: ChunkSource, manifestId: string, into: Set<string>): Promise<void> {
  const root = await readManifestRoot(source, manifestId);
  into.add(manifestId);
  for (const c of root.chunks) into.add(c);
  for await (const e of readManifest(source, manifestId)) for (const c of e.chunks ?? []) into.add(c);
}

export async function collectGarbage(backend: ChunkBackend, opts: GcOptions): Promise<GcResult> {
  const start = opts.now ?? Date.now();
  const cutoff = start - (opts.graceMs ?? DEFAULT_GC_GRACE_MS);
  const batchSize = opts.batchSize ?? 500;
  const dryRun = opts.dryRun ?? false;
  const marked = new Set<string>();
  let roots = 0;
  for await (const id of opts.roots) {
    if (marked.has(id)) {
      roots++;
      continue;
    }
    try {
      await markManifest(backend, id, marked);
    } catch (e: unknown) {
      throw new GcAborted(id, e);
    }
    roots++;
  }

  const result: GcResult = { roots, marked: marked.size, scanned: 0, young: 0, deleted: 0, bytesFreed: 0, dryRun };
  let batch: { id: string; size: number }[] = [];
  const sweep = async () => {
    const candidates = batch;
    batch = [];
    if (!candidates.length) return;
    let doomed = candidates;
    if (backend.stat) {
      const times = await backend.stat(candidates.map((c) => c.id));
      doomed = candidates.filter((_c, i) => {
        const t = times[i];
        if (t === null || t === undefined) return false; // already gone
        if (t >= cutoff) {
          result.young++;
          return false;
        }
        return true;
      });
    }
    if (!dryRun) await backend.delete(doomed.map((c) => c.id));
    result.deleted += doomed.length;
    for (const c of doomed) result.bytesFreed += c.size;
  };
  for await (const o of backend.list()) {
    result.scanned++;
    if (marked.has(o.id)) continue;
    if (o.mtimeMs >= cutoff) {
      result.young++;
      continue;
    }
    batch.push({ id: o.id, size: o.size ?? 0 });
    if (batch.length >= batchSize) await sweep();
  }
  await sweep();
  await backend.cleanTemporary?.(cutoff);
  return result;
}
