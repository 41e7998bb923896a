/**
 * @module A pool row compiled for the scheduler's hot path (see src/core/scheduler.ts): derived
 * capability sets, the parsed pool selector, label values as interned slots with their
 * quantities, precomputed detail strings. Label keys, label sets and substrates are interned
 * (bounded), so pools that share them share the work of checking them.
 */
import { type CapabilitySource, deriveCapabilities } from './capabilities.js';
import type { EgressPolicy } from './egress.js';
import { parseQuantityCached, type Quantity } from './quantity.js';
import { parseSelector, type Selector } from './selector.js';
import type { Labels, Pool, RunnerState, RuntimeProvides } from './types.js';

/** What the scheduler needs to know about a runner. A store `Runner` row fits as is. */
export interface RunnerView {
  id: string;
  state: RunnerState;
  labels: Labels;
  sessionId: string | null;
}

/** A pool row with everything the hot path needs precomputed. Build with {@link compilePool}. */
export interface CompiledPool {
  readonly pool: Pool;
  readonly isLocal: boolean;
  readonly isManaged: boolean;
  readonly provides: RuntimeProvides;
  readonly capabilitySource: CapabilitySource;
  readonly runtimeKinds: ReadonlySet<string>;
  readonly requirementKinds: ReadonlySet<string>;
  /** The pool's labels as a Map (fallback when label keys could not all be interned). */
  readonly labelMap: ReadonlyMap<string, string>;
  /**
   * The pool's label values by interned key id (see `labelKeyId`), with their quantities
   * pre-parsed, so matching a term is an array index. `slotsComplete` is false when some key
   * could not be interned (the intern table is full); matching then uses `labelMap`.
   */
  /** Interleaved `[value, quantity, value, quantity, ...]` by key id: one array, one cache line or two. */
  readonly slots: readonly (string | Quantity | null | undefined)[];
  readonly slotsComplete: boolean;
  /**
   * Pools with identical labels share this id (-1: not interned), so a selector is evaluated
   * once per distinct label set per decision (an equivalence-class cache, as in the Kubernetes
   * scheduler), not once per pool.
   */
  readonly labelSetId: number;
  // Hot copies of the pool row's fields, so the per-pool loop touches one object, not two.
  readonly id: string;
  readonly name: string;
  readonly orgId: string;
  readonly providerId: string;
  readonly priority: number;
  readonly active: boolean;
  readonly maxRunners: number | null;
  /** The pool's own selector (what joining runners must satisfy), parsed; null when none. */
  readonly selector: Selector | null;
  /** `(class default for docker)`, `(runtime_provides override)` or `(unknown provider x: no class default)`. */
  readonly sourceNote: string;
  /** Detail for `provider_unavailable` when no provider with this id is configured. */
  readonly unregisteredDetail: string;
  /**
   * Pools with the same derived substrate (same kinds, same source note) share this id and their
   * Sets, so `decide` checks runtimes and requirements once per distinct substrate, not per pool.
   */
  readonly substrateId: number;
  /** The pool's own egress policy; null: its provider's default. */
  readonly egress: EgressPolicy | null;
}

/** Interned label keys: key → small integer slot. Bounded; keys past the limit are not interned. */
const LABEL_KEY_LIMIT = 4096;
const labelKeys = new Map<string, number>();

function labelKeyId(key: string): number {
  const hit = labelKeys.get(key);
  if (hit !== undefined) return hit;
  if (labelKeys.size >= LABEL_KEY_LIMIT) return -1;
  const id = labelKeys.size;
  labelKeys.set(key, id);
  return id;
}

/** Interned label sets (canonical text → id). Bounded; sets past the limit get -1 (no sharing). */
const LABEL_SET_LIMIT = 65_536;
const labelSets = new Map<string, number>();

function labelSetId(labels: Labels): number {
  const key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const hit = labelSets.get(key);
  if (hit !== undefined) return hit;
  if (labelSets.size >= LABEL_SET_LIMIT) return -1;
  const id = labelSets.size;
  labelSets.set(key, id);
  return id;
}

interface InternedSubstrate {
  id: number;
  runtimeKinds: ReadonlySet<string>;
  requirementKinds: ReadonlySet<string>;
}

/** Interned substrates. Bounded: past the limit new substrates get fresh ids and are not kept. */
const SUBSTRATE_LIMIT = 4096;
const substrates = new Map<string, InternedSubstrate>();
let nextSubstrateId = 0;

function internSubstrate(sourceNote: string, provides: RuntimeProvides): InternedSubstrate {
  const key = `${sourceNote}|${[...provides.runtimeKinds].sort().join(',')}|${[...provides.requirementKinds].sort().join(',')}`;
  const hit = substrates.get(key);
  if (hit !== undefined) return hit;
  const made: InternedSubstrate = {
    id: nextSubstrateId++,
    runtimeKinds: new Set(provides.runtimeKinds),
    requirementKinds: new Set(provides.requirementKinds),
  };
  if (substrates.size < SUBSTRATE_LIMIT) substrates.set(key, made);
  return made;
}

/** What {@link compilePool} needs from the pool's provider class (its descriptor); `{}` for an unknown provider. */
export interface ProviderClassView {
  /** Substrate class default (used when the pool has no `runtime_provides` override). */
  substrate?: Readonly<RuntimeProvides>;
  /** Runs on the server's own host: the only class the `local` / `host-session` auth modes may use. */
  onServerHost?: boolean;
  /** Why the provider is not built on this server (e.g. not implemented), for `provider_unavailable`. */
  unregisteredDetail?: string;
}

/**
 * Precomputes a pool for {@link decide}: derived capabilities (override, else class default, else
 * none) as Sets, the parsed pool selector, and the quantities of its label values (memoised).
 * Throws InvalidRequest when the row's selector or runtime_provides is invalid.
 */
export function compilePool(pool: Pool, cls: ProviderClassView = {}): CompiledPool {
  const derived = deriveCapabilities(cls.substrate, pool.runtimeProvides);
  const slots: (string | Quantity | null | undefined)[] = [];
  let slotsComplete = true;
  for (const [k, v] of Object.entries(pool.labels)) {
    const id = labelKeyId(k);
    if (id < 0) {
      slotsComplete = false;
      continue;
    }
    while (slots.length <= 2 * id) slots.push(undefined, undefined);
    slots[2 * id] = v;
    // Memoised, so pools with the same value share one Quantity object.
    slots[2 * id + 1] = parseQuantityCached(v);
  }
  const sourceNote =
    derived.source === 'override'
      ? '(runtime_provides override)'
      : derived.source === 'class-default'
        ? `(class default for ${pool.providerId})`
        : `(unknown provider ${pool.providerId}: no class default)`;
  const sub = internSubstrate(sourceNote, derived.provides);
  return {
    pool,
    isLocal: cls.onServerHost === true,
    isManaged: pool.mode === 'managed',
    provides: derived.provides,
    capabilitySource: derived.source,
    runtimeKinds: sub.runtimeKinds,
    requirementKinds: sub.requirementKinds,
    substrateId: sub.id,
    egress: pool.egress ?? null,
    labelMap: new Map(Object.entries(pool.labels)),
    slots,
    slotsComplete,
    labelSetId: labelSetId(pool.labels),
    id: pool.id,
    name: pool.name,
    orgId: pool.orgId,
    providerId: pool.providerId,
    priority: pool.priority,
    active: pool.active,
    maxRunners: pool.maxRunners,
    selector: pool.selector === null || pool.selector.trim() === '' ? null : parseSelector(pool.selector),
    sourceNote,
    unregisteredDetail: cls.unregisteredDetail ?? `provider ${pool.providerId} is not configured on this server`,
  };
}

/** The interned slot of a label key, or -1 when no compiled pool has that key. */
export function labelKeySlot(key: string): number {
  return labelKeys.get(key) ?? -1;
}
