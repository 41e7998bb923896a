/**
 * @module What changed between two snapshots: paths added, removed and changed (type, mode, size,
 * content or link target; a new mtime alone is not a change). One manifest is held as a map of
 * path to a short signature, the other streamed against it, so memory grows with the number of
 * entries, never with their bytes.
 */

import type { ChunkSource, ManifestEntry } from '../cas/index.js';
import { readManifest } from '../cas/index.js';

export interface SnapshotDiff {
  added: string[];
  removed: string[];
  changed: string[];
}

function signature(e: ManifestEntry): string {
  return `${e.type}|${e.mode}|${e.size}|${e.target ?? ''}|${(e.chunks ?? []).join(',')}`;
}

export async function diffSnapshots(
  source: ChunkSource,
  fromManifest: string,
  toManifest: string,
): Promise<SnapshotDiff> {
  const before = new Map<string, string>();
  for await (const e of readManifest(source, fromManifest)) before.set(e.path, signature(e));
  const out: SnapshotDiff = { added: [], removed: [], changed: [] };
  for await (const e of readManifest(source, toManifest)) {
    const was = before.get(e.path);
    if (was === undefined) out.added.push(e.path);
    else if (was !== signature(e)) out.changed.push(e.path);
    before.delete(e.path);
  }
  out.removed = [...before.keys()];
  for (const list of [out.added, out.removed, out.changed]) list.sort();
  return out;
}
