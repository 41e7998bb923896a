/**
 * @module The one compare-and-set state change every repository uses: `UPDATE … SET state = to
 * WHERE id = ? AND state IN (from…)`. The `from` states are checked against the entity's state
 * table (src/core/states.ts) first: asking for an edge the table does not list throws
 * IllegalTransition (a defect in the caller), while a guard that does not hold (the row moved on:
 * a race) returns false.
 */
import type { Kysely } from 'kysely';
import { IllegalTransition } from '../core/errors.js';
import { fromStates, type StateTable } from '../core/states.js';
import { arg, args, changed, patchShape, run, setFrom } from './prepared.js';
import type { Database } from './schema.js';

/** The states the table allows into each state, computed once per table. */
const intoCache = new WeakMap<object, Map<string, readonly string[]>>();

function statesInto<S extends string>(table: StateTable<S>, to: S): readonly S[] {
  let byTo = intoCache.get(table);
  if (!byTo) {
    byTo = new Map();
    intoCache.set(table, byTo);
  }
  let into = byTo.get(to);
  if (!into) {
    into = fromStates(table, to);
    byTo.set(to, into);
  }
  return into as readonly S[];
}

/**
 * The guard for a change to `to`: `from` when every edge `from[i] → to` is in `table`, else an
 * IllegalTransition; without `from`, every state the table allows into `to` (none: an error).
 */
export function guardStates<S extends string>(
  entity: string,
  table: StateTable<S>,
  to: S,
  from?: readonly S[],
): readonly S[] {
  if (from === undefined) {
    const into = statesInto(table, to);
    if (into.length === 0) throw new IllegalTransition(entity, [], to);
    return into;
  }
  for (const f of from) if (!table[f].includes(to)) throw new IllegalTransition(entity, [f], to);
  return from;
}

/**
 * Moves row `id` of `entity` to `set.state` when its state is one of the guard's (see
 * `guardStates`). `set` is the whole SET list (the state included); `key` names the statement.
 * Returns false when the guard did not hold.
 */
export async function casTransition<S extends string>(
  db: Kysely<Database>,
  entity: 'sessions' | 'tasks' | 'runners',
  table: StateTable<S>,
  id: string,
  to: S,
  set: Record<string, unknown>,
  from?: readonly S[],
): Promise<boolean> {
  const allowed = guardStates(entity, table, to, from);
  const shape = patchShape(set);
  const n = shape.values.length;
  const r = await run(
    db,
    `${entity}.transition:${shape.key}:${allowed.length}`,
    [...shape.values, id, ...allowed],
    (p) =>
      db
        .updateTable(entity)
        .set(setFrom(shape.columns, p))
        .where('id', '=', arg(p, n))
        .where('state', 'in', args(p, n + 1, n + 1 + allowed.length)),
  );
  return changed(r) === 1;
}
