/**
 * @module Names for ids in mctl's tables: a session's or runner's pool by its name rather than its
 * id (`-o wide` adds the id). One listing per command, only when a table is printed; if it fails,
 * the table shows ids as before rather than failing the command.
 */
import type { MarionetteClient } from '../client/index.js';

/** Pool id → name (empty when the pools cannot be listed). */
export async function poolNames(api: MarionetteClient): Promise<Map<string, string>> {
  try {
    return new Map((await api.listPools()).items.map((p) => [p.id, p.name]));
  } catch {
    return new Map();
  }
}

/** `id`'s name in `names`, else the id itself (null stays null). */
export function nameOf(names: Map<string, string>, id: string | null): string | null {
  return id === null ? null : (names.get(id) ?? id);
}
