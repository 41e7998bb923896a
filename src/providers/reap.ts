/**
 * @module The one reaping loop every provider's `reapOrphans` runs: of the objects the provider
 * listed, those of this install whose owner is gone are removed, sandboxes first, then storage,
 * then networks (so nothing is still in use when its turn comes). Another install's objects are
 * never touched; objects with no install id only when the caller adopts them.
 */
import { toError } from '../core/errors.js';
import type { OwnedObject, OwnedRole, OwnerCheck, ReapResult } from './types.js';

export interface ReapOwnedOptions<O extends OwnedObject> {
  /** This install's id; null (tests, tools): every listed object is the caller's. */
  installId: string | null;
  isLive: OwnerCheck;
  adopt?: OwnerCheck | undefined;
  /** Removes one object; `{ skipped }` when it cannot go yet (a network still in use). Gone already is fine. */
  remove(o: O): Promise<{ skipped: string } | undefined>;
}

const ORDER: readonly OwnedRole[] = ['sandbox', 'storage', 'network'];

/** Whether `o` belongs to the install that reaps. */
export async function isMine(o: OwnedObject, installId: string | null, adopt?: OwnerCheck): Promise<boolean> {
  if (!installId) return true;
  if (o.owner.install) return o.owner.install === installId;
  return adopt ? await adopt(o) : false;
}

/**
 * @example
 * await reapOwned(await provider.list(), { installId, isLive: (o) => live.has(o.owner.runner), remove: (o) => kill(o) });
 */
export async function reapOwned<O extends OwnedObject>(
  objects: readonly O[],
  opts: ReapOwnedOptions<O>,
): Promise<ReapResult<O>> {
  const result: ReapResult<O> = { removed: [], kept: [], skipped: [], failed: [], foreign: [] };
  for (const role of ORDER) {
    for (const o of objects.filter((x) => x.role === role)) {
      if (!(await isMine(o, opts.installId, opts.adopt))) {
        result.foreign.push(o);
        continue;
      }
      if (await opts.isLive(o)) {
        result.kept.push(o);
        continue;
      }
      try {
        const r = await opts.remove(o);
        if (r) result.skipped.push({ object: o, reason: r.skipped });
        else result.removed.push(o);
      } catch (e: unknown) {
        result.failed.push({ object: o, error: toError(e) });
      }
    }
  }
  return result;
}
