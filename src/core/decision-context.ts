/**
 * @module The scheduler's per-decision working state: constants computed once per request (so the
 * per-pool loop only concatenates when it must), memoised per-decision results, and the parallel
 * arrays of eligible pools.
 */
import { labelKeySlot } from './compiled-pool.js';
import type { PlacementRequest } from './decision-types.js';
import { assertNever } from './errors.js';
import { formatTerm, mergeSelectors, parseSelector, type Selector } from './selector.js';
import type { AuthMode, RequirementKind, RuntimeKind } from './types.js';

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
export interface Ctx {
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
export interface SubstrateResult {
  reason: 'missing_runtime' | 'missing_requirement' | null;
  detail: string;
  runtime: RuntimeKind | null;
}

export const UNLISTED = Number.MAX_SAFE_INTEGER;

/** Working state for eligible pools, in parallel arrays (no per-pool objects on the hot path). */
export interface Eligible {
  idx: number[];
  free: number[];
  idle: number[];
  runnerId: (string | null)[];
  runtime: (RuntimeKind | null)[];
  pref: number[];
}

export function makeCtx(req: PlacementRequest): Ctx {
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
    termSlot: selector.terms.map((t) => labelKeySlot(t.key)),
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
