/**
 * @module Statements built once. Building a query with Kysely (builder nodes, frozen copies, the
 * compiler's visit) costs several times what SQLite then spends running it, and the dispatch
 * path runs the same couple of dozen statements for every task. So the hot ones are built and
 * compiled on first use with placeholder arguments, and later calls only put their values in.
 * The query is still written once in Kysely, so it is the same on SQLite and PostgreSQL.
 *
 * @example
 * const r = await run(this.db, 'sessions.get', [id], ([id]) =>
 *   this.db.selectFrom('sessions').selectAll().where('id', '=', id),
 * );
 */
import type { Compilable, CompiledQuery, Kysely, QueryResult } from 'kysely';

/**
 * A placeholder for argument `i` while the statement is built. Typed `never` so it fits any
 * column's type in the builder; at run time it is a string no caller could pass.
 */
export type Placeholder = never;
type Tuple<N extends number, T, R extends T[] = []> = R['length'] extends N ? R : Tuple<N, T, [...R, T]>;
/** The placeholders handed to a builder: destructure the first ones, or index with `arg`. */
export type Placeholders = readonly [...Tuple<24, Placeholder>, ...Placeholder[]];
const MARK = '\u0000marionette-arg:';
const placeholders = Array.from({ length: 64 }, (_, i) => `${MARK}${i}`) as unknown as Placeholders;

/** Placeholder `i` (for statements whose argument positions are computed). */
export function arg(p: Placeholders, i: number): Placeholder {
  return p[i] as Placeholder;
}

/** Placeholders `from` to `to` (exclusive), e.g. for an `in (...)` list. */
export function args(p: Placeholders, from: number, to: number): Placeholder[] {
  return p.slice(from, to) as Placeholder[];
}

interface Template {
  compiled: CompiledQuery;
  /** Per compiled parameter: the index of the argument it takes, or -1 to keep the built value. */
  slots: number[];
}

/** Templates per dialect (the adapter is shared by a Kysely instance and its transactions). */
const templates = new WeakMap<object, Map<string, Template>>();

function compile(key: string, arity: number, build: () => Compilable<unknown>): Template {
  const compiled = build().compile();
  const slots = compiled.parameters.map((p) =>
    typeof p === 'string' && p.startsWith(MARK) ? Number(p.slice(MARK.length)) : -1,
  );
  for (let i = 0; i < arity; i++)
    if (!slots.includes(i)) throw new Error(`statement ${key}: argument ${i} is not used by the statement`);
  return { compiled, slots };
}

/**
 * Runs the statement named `key` with `args`. `build` makes it from placeholders, one per argument
 * in order; it runs once per key and dialect, so the statement's shape must depend on `key` alone
 * (put anything that changes the shape, such as which columns a patch sets, into the key).
 */
export async function run<R, DB>(
  db: Kysely<DB>,
  key: string,
  args: readonly unknown[],
  build: (p: Placeholders) => Compilable<R>,
): Promise<QueryResult<R>> {
  if (args.length > placeholders.length)
    throw new Error(`statement ${key}: more than ${placeholders.length} arguments`);
  const adapter = db.getExecutor().adapter;
  let byKey = templates.get(adapter);
  if (!byKey) {
    byKey = new Map();
    templates.set(adapter, byKey);
  }
  let t = byKey.get(key);
  if (!t) {
    t = compile(key, args.length, () => build(placeholders));
    byKey.set(key, t);
  }
  const { compiled, slots } = t;
  const parameters = new Array<unknown>(slots.length);
  for (let i = 0; i < slots.length; i++) {
    const s = slots[i] as number;
    parameters[i] = s >= 0 ? args[s] : compiled.parameters[i];
  }
  return db.executeQuery<R>({ ...compiled, parameters } as CompiledQuery<R>);
}

/** Rows changed by an insert, update or delete run through `run`. */
export function changed(r: QueryResult<unknown>): number {
  return Number(r.numAffectedRows ?? 0n);
}

/**
 * A patch's defined entries, and a key naming its columns (what shapes an UPDATE's SET list).
 * Kysely leaves `undefined` values out of a SET; so does this.
 */
export function patchShape(patch: Record<string, unknown>): { columns: string[]; values: unknown[]; key: string } {
  const columns: string[] = [];
  const values: unknown[] = [];
  for (const [k, v] of Object.entries(patch))
    if (v !== undefined) {
      columns.push(k);
      values.push(v);
    }
  return { columns, values, key: columns.join(',') };
}

/** `{ column: placeholder }` for the SET list of a patch built by `patchShape`. */
export function setFrom(columns: readonly string[], p: Placeholders, offset = 0): Record<string, Placeholder> {
  const out: Record<string, Placeholder> = {};
  for (let i = 0; i < columns.length; i++) out[columns[i] as string] = arg(p, offset + i);
  return out;
}
