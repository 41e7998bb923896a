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
 * `missing_requirement` → `selector_mismatch` → `provider_unavailable` (not implemented or not
 * configured here) → `credential_missing` (the provider declares a credential and the org has none,
 * stored or in the server's environment) → `provider_unavailable` (its backend unreachable: a
 * probe may need the credential, so a missing one is named first) → `egress_policy` (the session widens its pool's egress, or the pool's provider
 * cannot enforce the policy: see ./egress.ts) → `at_capacity`.
 *
 * Among eligible pools: highest priority, then earlier in the profile's `providerPreference`
 * (listed providers first, in list order), then a pool with a ready idle runner over one that would
 * have to provision a runner (or wait for one to join), whatever their free capacity, then most
 * free capacity, then name (then id). The rest get `lower_priority` with who won and why. In the chosen pool: an idle unbound runner whose
 * labels match is assigned; else a managed pool provisions; else (pool / external) the session
 * waits for a runner to join. Pool and external pools never fail on capacity.
 *
 * Parts: src/core/compiled-pool.ts (compilePool), src/core/decision-types.ts (request, candidates,
 * decision), src/core/decision-context.ts (per-decision state), src/core/verdict-text.ts (details
 * and the unplaceable summary). This module re-exports what callers use.
 */

import type { CompiledPool, RunnerView } from './compiled-pool.js';
import { type Ctx, type Eligible, makeCtx, type SubstrateResult, UNLISTED } from './decision-context.js';
import type { Decision, PlacementAction, PlacementRequest, PoolCandidate } from './decision-types.js';
import { egressMiss, egressPlacement } from './egress.js';
import type { Quantity } from './quantity.js';
import { explainTerm, firstFailingTerm, firstFailingTermMap, matchTerm } from './selector.js';
import type { Labels, PoolVerdict, RequirementKind, RuntimeKind, VerdictReason } from './types.js';
import { chosenDetail, lostDetail } from './verdict-text.js';

export { type CompiledPool, compilePool, type ProviderClassView, type RunnerView } from './compiled-pool.js';
export { isLocalPinnedAuthMode } from './decision-context.js';
export type { Decision, Placement, PlacementAction, PlacementRequest, PoolCandidate } from './decision-types.js';
export { summarizeUnplaceable } from './verdict-text.js';

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
      } else if (c.sandboxMissing) {
        // The pool's nested sandbox runtime is not on its runners: a verdict, never a run without it.
        reason = 'missing_requirement';
        detail = c.sandboxMissing;
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
        if (reason === null && c.credentialMissing) {
          reason = 'credential_missing';
          detail = c.credentialMissing;
        }
        if (reason === null && c.providerUnavailable !== null) {
          reason = 'provider_unavailable';
          detail = `provider ${cp.providerId} unavailable: ${c.providerUnavailable}`;
        }
        let freshRunner = false;
        if (reason === null && (cp.egress !== null || (request.egress !== null && request.egress !== undefined))) {
          // A nested sandbox enforces the policy per task (any runner will do); else the provider's sandbox does.
          const e = c.nestedEgress
            ? { miss: egressMiss(cp.egress, request.egress, c.nestedEgress, cp.providerId), freshRunner: false }
            : egressPlacement(cp.egress, request.egress, c.capabilities, cp.providerId, cp.isManaged);
          if (e.miss !== null) {
            reason = 'egress_policy';
            detail = e.miss;
          }
          freshRunner = e.freshRunner;
        }
        if (reason === null) {
          // Capacity. Idle, unbound, label-matching runners can be assigned without new capacity.
          let idleCount = 0;
          let idleId: string | null = null;
          const runners = c.runners;
          for (let k = 0; k < runners.length; k++) {
            const r = runners[k] as RunnerView;
            if (r.state !== 'idle' || r.sessionId !== null || freshRunner) continue;
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
 * labels (under the pool's labels: the pool's win) match, or on the pool's labels alone when no runner is live.
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
  const why = explainTerm(sel.terms[firstK] as (typeof sel.terms)[number], labels, first.labels, ctx.termText[firstK]);
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

/**
 * First failing term against the pool's labels over a runner's own, or -1. The pool's labels win:
 * a runner may add labels the pool does not set, never change one it does (registration refuses
 * such a runner, and a pool relabelled later still bounds the runners it has).
 */
function firstFailingRunner(ctx: Ctx, cp: CompiledPool, runnerLabels: Labels): number {
  if (!cp.slotsComplete) return firstFailingTerm(ctx.selector, cp.pool.labels, runnerLabels);
  const terms = ctx.selector.terms;
  const slots = cp.slots;
  for (let k = 0; k < terms.length; k++) {
    const t = terms[k] as (typeof terms)[number];
    const at = 2 * (ctx.termSlot[k] as number);
    const poolValue = at < 0 || at >= slots.length ? undefined : (slots[at] as string | undefined);
    let ok: boolean;
    if (typeof poolValue === 'string') {
      ok = matchTerm(t, poolValue, slots[at + 1] as Quantity | null | undefined);
    } else {
      const own = runnerLabels[t.key];
      ok = matchTerm(t, typeof own === 'string' ? own : undefined, undefined);
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
