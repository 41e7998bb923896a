/**
 * @module The pure placement decision: which pool (and which runner in it) takes a session, with
 * a typed verdict for every pool considered.
 *
 * Two steps, so the hot path parses nothing:
 * - {@link compilePool} once per pool row (cache it until the row's `updatedAt` changes): derived
 *   capability sets, the parsed pool selector, precomputed detail strings.
 * - {@link decide} per placement: checks every candidate in the order below; the first failing
 *   check is the pool's verdict reason.
 *
 * Check order: `inactive` → `org_mismatch` → `pool_mismatch` (explicit pool) → `provider_mismatch`
 * (explicit provider) → `auth_mode_pin` → `missing_runtime` →
 * `missing_requirement` → `selector_mismatch` → `provider_unavailable` (not configured here, or its
 * backend unreachable) → `at_capacity`.
 *
 * Among eligible pools: highest priority, then earlier in the profile's `providerPreference`
 * (listed providers first, in list order), then a pool with a ready idle runner over one that would
 * have to provision a runner (or wait for one to join), whatever their free capacity, then most
 * free capacity, then name (then id). The rest get `lower_priority` with who won and why. In the chosen pool: an idle unbound runner whose
 * labels match is assigned; else a managed pool provisions; else (pool / external) the session
 * waits for a runner to join. Pool and external pools never fail on capacity.
 */

import { type CapabilitySource, deriveCapabilities } from './capabilities.js';
import { assertNever } from './errors.js';
import { parseQuantityCached, type Quantity } from './quantity.js';
import {
  explainTerm,
  firstFailingTerm,
  firstFailingTermMap,
  formatTerm,
  matchTerm,
  mergeSelectors,
  parseSelector,
  type Selector,
} from './selector.js';
import type {
  AgentCard,
  AuthMode,
  Labels,
  Pool,
  PoolVerdict,
  Profile,
  RequirementKind,
  RunnerState,
  RuntimeKind,
  RuntimeProvides,
  SandboxProviderCapabilities,
  VerdictReason,
} from './types.js';

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

export interface PoolCandidate {
  pool: CompiledPool;
  /** The provider's capabilities; `undefined` when no provider with this id is registered. */
  capabilities: SandboxProviderCapabilities | undefined;
  /** `null` when reachable, else why not (e.g. `Docker Engine unreachable at /var/run/docker.sock`). */
  providerUnavailable: string | null;
  /** Live runners of this pool (not offline / terminated). */
  runners: readonly RunnerView[];
  /** Live runners of this provider across all pools (for the provider's `maxConcurrent`). */
  providerLiveRunners: number;
}

export interface PlacementRequest {
  orgId: string;
  agent: Pick<AgentCard, 'name' | 'runtimes' | 'requires'>;
  authMode: AuthMode;
  providerId?: string | null;
  /** Pool name (or id). */
  poolName?: string | null;
  selector?: Selector | null;
  /** Its selector is ANDed with the request's; its providerPreference orders ties on priority. */
  profile?: Profile | null;
}

export type PlacementAction = 'assign' | 'provision' | 'wait';

export interface Placement {
  poolId: string;
  poolName: string;
  providerId: string;
  action: PlacementAction;
  /** The idle runner to assign (action `assign`), else null. */
  runnerId: string | null;
  /** The first of the agent's runtimes (in its order) the pool provides; null when it declares none. */
  runtime: RuntimeKind | null;
}

export interface Decision {
  chosen: Placement | null;
  /** One per candidate, in candidate order. */
  verdicts: PoolVerdict[];
}

/** Auth modes pinned to pools whose provider runs on the server's own host (`local`). */
export function isLocalPinnedAuthMode(mode: AuthMode): boolean {
  switch (mode) {
    case 'local':
    case 'host-session':
      return true;
    case 'byok':
    case 'metered':
    case 'shared':
      return false;
    default:
      return assertNever(mode, 'auth mode');
  }
}

/** Per-decision constants, computed once so the per-pool loop only concatenates when it must. */
interface Ctx {
  orgId: string;
  poolName: string | null;
  providerId: string | null;
  pinned: boolean;
  authMode: AuthMode;
  runtimes: readonly RuntimeKind[];
  requires: readonly RequirementKind[];
  selector: Selector;
  hasSelector: boolean;
  preference: readonly string[];
  poolMismatchDetail: string;
  providerMismatchPrefix: string;
  pinDetailPrefix: string;
  runtimeDetailPrefix: string;
  /** Interned label-key slot per selector term (-1: no compiled pool has that key). */
  termSlot: number[];
  /** `formatTerm` of each selector term, for failure details. */
  termText: string[];
  /**
   * Selector failure details for pools matched on their own labels, per term index then label
   * value (`undefined` key: label missing). Failing values repeat across pools (`vram=8GB`), so
   * each distinct detail string is built once per decision.
   */
  failDetail: Map<string | undefined, string>[];
  /** `lower_priority` details by the loser's deciding value (priority, provider, free capacity). */
  lostHead: string;
  lostByPriority: Map<number, string>;
  lostByPreference: Map<string, string>;
  lostByFree: Map<number, string>;
  /** Selector outcome per label set id: null = match, string = failure detail, undefined = not yet. */
  selectorByLabelSet: (string | null | undefined)[];
  /** Substrate check result per `substrateId`, filled on first use in this decision. */
  substrate: (SubstrateResult | undefined)[];
}

/** Outcome of the runtime + requirement checks for one distinct substrate. */
interface SubstrateResult {
  reason: 'missing_runtime' | 'missing_requirement' | null;
  detail: string;
  runtime: RuntimeKind | null;
}

const UNLISTED = Number.MAX_SAFE_INTEGER;

/** Working state for eligible pools, in parallel arrays (no per-pool objects on the hot path). */
interface Eligible {
  idx: number[];
  free: number[];
  idle: number[];
  runnerId: (string | null)[];
  runtime: (RuntimeKind | null)[];
  pref: number[];
}

/**
 * Decides where a request goes. Pure and allocation-light: one verdict object per candidate, with
 * strings built only for failures that need request-specific detail.
 * @example
 * const d = decide({ orgId, agent, authMode: 'byok', selector: parseSelector('gpu=nvidia') }, candidates);
 * if (d.chosen === null) throw new Unplaceable(summarizeUnplaceable(d.verdicts), { details: { verdicts: d.verdicts } });
 */
export function decide(request: PlacementRequest, candidates: readonly PoolCandidate[]): Decision {
  const ctx = makeCtx(request);
  const n = candidates.length;
  const verdicts: PoolVerdict[] = new Array(n);
  const el: Eligible = { idx: [], free: [], idle: [], runnerId: [], runtime: [], pref: [] };

  for (let i = 0; i < n; i++) {
    const c = candidates[i] as PoolCandidate;
    const cp = c.pool;
    let reason: VerdictReason | null = null;
    let detail = '';
    let runtime: RuntimeKind | null = null;

    if (!cp.active) {
      reason = 'inactive';
      detail = 'pool is inactive';
    } else if (cp.orgId !== ctx.orgId) {
      reason = 'org_mismatch';
      detail = 'pool belongs to another org';
    } else if (ctx.poolName !== null && cp.name !== ctx.poolName && cp.id !== ctx.poolName) {
      reason = 'pool_mismatch';
      detail = ctx.poolMismatchDetail;
    } else if (ctx.providerId !== null && cp.providerId !== ctx.providerId) {
      reason = 'provider_mismatch';
      detail = ctx.providerMismatchPrefix + cp.providerId;
    } else if (ctx.pinned && !cp.isLocal) {
      reason = 'auth_mode_pin';
      detail = ctx.pinDetailPrefix + cp.providerId;
    } else {
      const sub = ctx.substrate[cp.substrateId] ?? checkSubstrate(ctx, cp);
      runtime = sub.runtime;
      if (sub.reason !== null) {
        reason = sub.reason;
        detail = sub.detail;
      } else {
        if (ctx.hasSelector) {
          const miss = selectorMiss(ctx, cp, c.runners);
          if (miss !== null) {
            reason = 'selector_mismatch';
            detail = miss;
          }
        }
        if (reason === null && c.capabilities === undefined) {
          reason = 'provider_unavailable';
          detail = cp.unregisteredDetail;
        }
        if (reason === null && c.providerUnavailable !== null) {
          reason = 'provider_unavailable';
          detail = `provider ${cp.providerId} unavailable: ${c.providerUnavailable}`;
        }
        if (reason === null) {
          // Capacity. Idle, unbound, label-matching runners can be assigned without new capacity.
          let idleCount = 0;
          let idleId: string | null = null;
          const runners = c.runners;
          for (let k = 0; k < runners.length; k++) {
            const r = runners[k] as RunnerView;
            if (r.state !== 'idle' || r.sessionId !== null) continue;
            if (ctx.hasSelector && firstFailingRunner(ctx, cp, r.labels) >= 0) continue;
            if (idleId === null) idleId = r.id;
            idleCount++;
          }
          let free: number;
          if (cp.isManaged) {
            const live = runners.length;
            const max = cp.maxRunners;
            const provMax = c.capabilities?.maxConcurrent ?? null;
            if (idleId === null && max !== null && live >= max) {
              reason = 'at_capacity';
              detail = `${live}/${max} runners live, none idle (max_runners ${max})`;
            } else if (idleId === null && provMax !== null && c.providerLiveRunners >= provMax) {
              reason = 'at_capacity';
              detail = `provider ${cp.providerId} at maxConcurrent: ${c.providerLiveRunners}/${provMax} runners live across pools`;
            }
            free = max === null ? Number.POSITIVE_INFINITY : Math.max(0, max - live);
          } else {
            free = idleCount;
          }
          if (reason === null) {
            el.idx.push(i);
            el.free.push(free);
            el.idle.push(idleCount);
            el.runnerId.push(idleId);
            el.runtime.push(runtime);
            el.pref.push(preferenceIndex(ctx.preference, cp.providerId));
            continue;
          }
        }
      }
    }
    verdicts[i] = {
      poolId: cp.id,
      poolName: cp.name,
      providerId: cp.providerId,
      priority: cp.priority,
      reason,
      detail,
      chosen: false,
    };
  }

  if (el.idx.length === 0) return { chosen: null, verdicts };

  let best = 0;
  for (let e = 1; e < el.idx.length; e++) {
    if (compareEligible(candidates, el, e, best) < 0) best = e;
  }
  const winIdx = el.idx[best] as number;
  const winner = (candidates[winIdx] as PoolCandidate).pool;
  const wp = winner.pool;
  const runnerId = el.runnerId[best] as string | null;
  const action: PlacementAction = runnerId !== null ? 'assign' : winner.isManaged ? 'provision' : 'wait';
  const winRuntime = el.runtime[best] as RuntimeKind | null;
  ctx.lostHead = `eligible, but pool ${wp.name} won`;

  for (let e = 0; e < el.idx.length; e++) {
    const i = el.idx[e] as number;
    const p = (candidates[i] as PoolCandidate).pool.pool;
    const isWinner = e === best;
    verdicts[i] = {
      poolId: p.id,
      poolName: p.name,
      providerId: p.providerId,
      priority: p.priority,
      reason: isWinner ? null : 'lower_priority',
      detail: isWinner
        ? chosenDetail(candidates[i] as PoolCandidate, el, e, action, el.idx.length - 1)
        : lostDetail(ctx, candidates, el, best, e),
      chosen: isWinner,
    };
  }
  return {
    chosen: { poolId: wp.id, poolName: wp.name, providerId: wp.providerId, action, runnerId, runtime: winRuntime },
    verdicts,
  };
}

function makeCtx(req: PlacementRequest): Ctx {
  const profileSel =
    req.profile?.selector != null && req.profile.selector.trim() !== '' ? parseSelector(req.profile.selector) : null;
  const selector = mergeSelectors(req.selector ?? null, profileSel);
  const runtimes = req.agent.runtimes.map((r) => r.kind);
  const providerId = req.providerId ?? null;
  const poolName = req.poolName ?? null;
  return {
    orgId: req.orgId,
    poolName,
    providerId,
    pinned: isLocalPinnedAuthMode(req.authMode),
    authMode: req.authMode,
    runtimes,
    requires: req.agent.requires.map((r) => r.kind),
    selector,
    hasSelector: selector.terms.length > 0,
    preference: req.profile?.providerPreference ?? [],
    poolMismatchDetail: `not the requested pool ${poolName ?? ''}`,
    providerMismatchPrefix: `requested provider ${providerId ?? ''}; pool uses `,
    pinDetailPrefix: `auth mode ${req.authMode} runs only on providerId=local pools; pool uses `,
    runtimeDetailPrefix: `agent ${req.agent.name} runs as ${runtimes.join(' or ')}; pool provides none of them`,
    termSlot: selector.terms.map((t) => labelKeys.get(t.key) ?? -1),
    termText: selector.terms.map(formatTerm),
    failDetail: selector.terms.map(() => new Map<string | undefined, string>()),
    lostHead: '',
    lostByPriority: new Map(),
    lostByPreference: new Map(),
    lostByFree: new Map(),
    substrate: [],
    selectorByLabelSet: [],
  };
}

/** Runtimes are tried in order (the first provided one is used); then every requirement must be provided. */
function checkSubstrate(ctx: Ctx, cp: CompiledPool): SubstrateResult {
  let runtime: RuntimeKind | null = null;
  let result: SubstrateResult | null = null;
  if (ctx.runtimes.length > 0) {
    for (let k = 0; k < ctx.runtimes.length; k++) {
      const r = ctx.runtimes[k] as RuntimeKind;
      if (cp.runtimeKinds.has(r)) {
        runtime = r;
        break;
      }
    }
    if (runtime === null) {
      result = { reason: 'missing_runtime', detail: `${ctx.runtimeDetailPrefix} ${cp.sourceNote}`, runtime };
    }
  }
  if (result === null) {
    const missing = missingRequirements(ctx.requires, cp.requirementKinds);
    result =
      missing === null
        ? { reason: null, detail: '', runtime }
        : {
            reason: 'missing_requirement',
            detail: `requires ${missing.join(', ')}; pool does not provide ${missing.length === 1 ? 'it' : 'them'} ${cp.sourceNote}`,
            runtime,
          };
  }
  if (cp.substrateId >= 0) ctx.substrate[cp.substrateId] = result;
  return result;
}

function missingRequirements(requires: readonly RequirementKind[], provided: ReadonlySet<string>): string[] | null {
  let missing: string[] | null = null;
  for (let k = 0; k < requires.length; k++) {
    const r = requires[k] as string;
    if (!provided.has(r)) {
      if (missing === null) missing = [];
      if (!missing.includes(r)) missing.push(r);
    }
  }
  return missing;
}

/**
 * Managed pools match on the pool's labels. Pool / external pools match when any live runner's
 * labels (over the pool's labels) match, or on the pool's labels alone when no runner is live.
 * Returns null on a match, else the detail.
 */
function selectorMiss(ctx: Ctx, cp: CompiledPool, runners: readonly RunnerView[]): string | null {
  if (cp.isManaged || runners.length === 0) {
    const ls = cp.labelSetId;
    if (ls < 0) return poolLabelsMiss(ctx, cp);
    const hit = ctx.selectorByLabelSet[ls];
    if (hit !== undefined) return hit;
    const result = poolLabelsMiss(ctx, cp);
    ctx.selectorByLabelSet[ls] = result;
    return result;
  }
  const sel = ctx.selector;
  const labels = cp.pool.labels;
  let firstK = -1;
  for (let r = 0; r < runners.length; r++) {
    const k = firstFailingRunner(ctx, cp, (runners[r] as RunnerView).labels);
    if (k < 0) return null;
    if (r === 0) firstK = k;
  }
  const first = runners[0] as RunnerView;
  const why = explainTerm(sel.terms[firstK] as (typeof sel.terms)[number], first.labels, labels, ctx.termText[firstK]);
  return runners.length === 1
    ? `${why} (runner ${first.id})`
    : `${why} (runner ${first.id}; none of ${runners.length} live runners match)`;
}

/** The selector against the pool's own labels: null on a match, else the detail. */
function poolLabelsMiss(ctx: Ctx, cp: CompiledPool): string | null {
  const sel = ctx.selector;
  const k = cp.slotsComplete ? firstFailingSlot(ctx, cp) : firstFailingTermMap(sel, cp.labelMap);
  if (k < 0) return null;
  const t = sel.terms[k] as (typeof sel.terms)[number];
  const cache = ctx.failDetail[k] as Map<string | undefined, string>;
  const slot = ctx.termSlot[k] as number;
  const v = cp.slotsComplete
    ? slot >= 0
      ? (cp.slots[2 * slot] as string | undefined)
      : undefined
    : cp.labelMap.get(t.key);
  let why = cache.get(v);
  if (why === undefined) {
    why = explainTerm(t, cp.pool.labels, undefined, ctx.termText[k]);
    cache.set(v, why);
  }
  return why;
}

/** First failing term against a runner's labels over the pool's labels, or -1. */
function firstFailingRunner(ctx: Ctx, cp: CompiledPool, runnerLabels: Labels): number {
  if (!cp.slotsComplete) return firstFailingTerm(ctx.selector, runnerLabels, cp.pool.labels);
  const terms = ctx.selector.terms;
  const slots = cp.slots;
  for (let k = 0; k < terms.length; k++) {
    const t = terms[k] as (typeof terms)[number];
    const own = runnerLabels[t.key];
    let ok: boolean;
    if (typeof own === 'string') {
      ok = matchTerm(t, own, undefined);
    } else {
      const at = 2 * (ctx.termSlot[k] as number);
      ok =
        at < 0 || at >= slots.length
          ? matchTerm(t, undefined, undefined)
          : matchTerm(t, slots[at] as string | undefined, slots[at + 1] as Quantity | null | undefined);
    }
    if (!ok) return k;
  }
  return -1;
}

/** First failing term against the pool's label slots, or -1. */
function firstFailingSlot(ctx: Ctx, cp: CompiledPool): number {
  const terms = ctx.selector.terms;
  const slots = cp.slots;
  for (let k = 0; k < terms.length; k++) {
    const at = 2 * (ctx.termSlot[k] as number);
    const ok =
      at < 0 || at >= slots.length
        ? matchTerm(terms[k] as (typeof terms)[number], undefined, undefined)
        : matchTerm(
            terms[k] as (typeof terms)[number],
            slots[at] as string | undefined,
            slots[at + 1] as Quantity | null | undefined,
          );
    if (!ok) return k;
  }
  return -1;
}

function preferenceIndex(pref: readonly string[], providerId: string): number {
  const k = pref.indexOf(providerId);
  return k < 0 ? UNLISTED : k;
}

/** Negative when eligible `a` ranks before `b`. */
function compareEligible(cands: readonly PoolCandidate[], el: Eligible, a: number, b: number): number {
  const pa = (cands[el.idx[a] as number] as PoolCandidate).pool.pool;
  const pb = (cands[el.idx[b] as number] as PoolCandidate).pool.pool;
  if (pa.priority !== pb.priority) return pb.priority - pa.priority;
  const fa = el.pref[a] as number;
  const fb = el.pref[b] as number;
  if (fa !== fb) return fa - fb;
  // A ready idle runner starts the session now; an empty pool would first have to provision one.
  const ra = el.runnerId[a] !== null;
  const rb = el.runnerId[b] !== null;
  if (ra !== rb) return ra ? -1 : 1;
  const ca = el.free[a] as number;
  const cb = el.free[b] as number;
  if (ca !== cb) return ca > cb ? -1 : 1;
  if (pa.name !== pb.name) return pa.name < pb.name ? -1 : 1;
  return pa.id < pb.id ? -1 : pa.id > pb.id ? 1 : 0;
}

function fmtFree(n: number): string {
  return n === Number.POSITIVE_INFINITY ? 'unlimited' : String(n);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function chosenDetail(c: PoolCandidate, el: Eligible, e: number, action: PlacementAction, others: number): string {
  const p = c.pool.pool;
  const idle = el.idle[e] as number;
  const runtime = el.runtime[e] as RuntimeKind | null;
  let what: string;
  switch (action) {
    case 'assign':
      what = `${plural(idle, 'idle runner')}, assigning ${el.runnerId[e]}`;
      break;
    case 'provision':
      what = `no idle runner, provisioning one (${c.runners.length}/${p.maxRunners === null ? 'unlimited' : p.maxRunners} runners live)`;
      break;
    case 'wait':
      what = `no idle matching runner, waiting for one to join (${plural(c.runners.length, 'live runner')})`;
      break;
    default:
      return assertNever(action, 'placement action');
  }
  const rt = runtime === null ? '' : `, runtime ${runtime}`;
  const beat = others === 0 ? '' : `; chosen over ${plural(others, 'other eligible pool')}`;
  return `priority ${p.priority}, ${what}${rt}${beat}`;
}

function lostDetail(ctx: Ctx, cands: readonly PoolCandidate[], el: Eligible, w: number, l: number): string {
  const wp = (cands[el.idx[w] as number] as PoolCandidate).pool.pool;
  const lp = (cands[el.idx[l] as number] as PoolCandidate).pool.pool;
  const head = ctx.lostHead;
  if (wp.priority !== lp.priority) {
    let d = ctx.lostByPriority.get(lp.priority);
    if (d === undefined) {
      d = `${head} on priority (${wp.priority} > ${lp.priority})`;
      ctx.lostByPriority.set(lp.priority, d);
    }
    return d;
  }
  const wf = el.pref[w] as number;
  const lf = el.pref[l] as number;
  if (wf !== lf) {
    let d = ctx.lostByPreference.get(lp.providerId);
    if (d === undefined) {
      const lpos = lf === UNLISTED ? 'is not listed' : `is #${lf + 1}`;
      d = `${head} on the profile's provider preference (${wp.providerId} is #${wf + 1}, ${lp.providerId} ${lpos})`;
      ctx.lostByPreference.set(lp.providerId, d);
    }
    return d;
  }
  if (el.runnerId[w] !== null && el.runnerId[l] === null) {
    const later = (cands[el.idx[l] as number] as PoolCandidate).pool.isManaged
      ? 'would have to provision one'
      : 'would wait for one to join';
    return `${head} on a ready idle runner (${lp.name} has none idle and ${later}) at equal priority ${wp.priority}`;
  }
  const wc = el.free[w] as number;
  const lc = el.free[l] as number;
  if (wc !== lc) {
    let d = ctx.lostByFree.get(lc);
    if (d === undefined) {
      d = `${head} on free capacity (${fmtFree(wc)} > ${fmtFree(lc)}) at equal priority ${wp.priority}`;
      ctx.lostByFree.set(lc, d);
    }
    return d;
  }
  return `${head} the tie on name (${wp.name} before ${lp.name}) at equal priority and free capacity`;
}

const SUMMARY_LIMIT = 20;

/**
 * One paragraph saying why no pool could take the request: each pool with its reason and detail
 * (the first 20; the rest counted by reason). For `Unplaceable` errors and `sessions explain`.
 * @example summarizeUnplaceable(decision.verdicts)
 * // 'No eligible pool among 2 pools: gpu-small (docker): selector_mismatch, vram=8GB does not satisfy vram>=16GB; ...'
 */
export function summarizeUnplaceable(verdicts: readonly PoolVerdict[]): string {
  const failed = verdicts.filter((v) => !v.chosen);
  if (failed.length === 0)
    return 'No eligible pool: there are no pools to place on (create one with `mctl pools create`).';
  const shown = failed.slice(0, SUMMARY_LIMIT).map((v) => `${v.poolName} (${v.providerId}): ${v.reason}, ${v.detail}`);
  let text = `No eligible pool among ${plural(failed.length, 'pool')}: ${shown.join('; ')}`;
  if (failed.length > SUMMARY_LIMIT) {
    const counts = new Map<string, number>();
    for (const v of failed.slice(SUMMARY_LIMIT)) counts.set(String(v.reason), (counts.get(String(v.reason)) ?? 0) + 1);
    const byReason = [...counts].map(([r, k]) => `${r} ×${k}`).join(', ');
    text += `; and ${failed.length - SUMMARY_LIMIT} more (${byReason})`;
  }
  return `${text}.`;
}
