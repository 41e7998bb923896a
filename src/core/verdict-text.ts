/**
 * @module The scheduler's explanations: the detail text of the chosen pool's verdict and of each
 * eligible pool that lost to it, and the one-paragraph summary of why no pool could take a request
 * (for `Unplaceable` errors and `mctl sessions explain`).
 */
import { type Ctx, type Eligible, UNLISTED } from './decision-context.js';
import type { PlacementAction, PoolCandidate } from './decision-types.js';
import { assertNever } from './errors.js';
import type { PoolVerdict, RuntimeKind } from './types.js';

function fmtFree(n: number): string {
  return n === Number.POSITIVE_INFINITY ? 'unlimited' : String(n);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function chosenDetail(
  c: PoolCandidate,
  el: Eligible,
  e: number,
  action: PlacementAction,
  others: number,
): string {
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

export function lostDetail(ctx: Ctx, cands: readonly PoolCandidate[], el: Eligible, w: number, l: number): string {
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
