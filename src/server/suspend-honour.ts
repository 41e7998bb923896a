/**
 * @module Which suspend strategy a session gets, and why when it is not the one asked for.
 *
 * A strategy cannot be honoured when the provider does not implement it, when the pool's mode
 * rules it out (`release_to_pool` needs runners that go back to a pool: pool and external modes;
 * the others need a sandbox the server manages), or when the runner's sandbox cannot keep what the
 * strategy promises: a `snapshot` of a sandbox whose root filesystem is read-only (the handle's
 * `readOnlyRootfs`, e.g. a docker pool whose strategy and fallback are not `snapshot`) would keep
 * nothing beyond the workspace.
 *
 * - A strategy asked for explicitly (`mctl sessions suspend --strategy`, the API's `strategy`)
 *   that cannot be honoured is refused (409) with the reason and the strategies that would work
 *   (`strictPlan`): the server never quietly does something other than what was asked.
 * - The pool's own strategy that cannot be honoured falls back to the pool's `fallback`, then to
 *   `terminate` (`resolveStrategy`); the session's `stateReason`, its `suspended` event
 *   (`wanted`, `fellBack`) and `suspend.requested` say what was done instead and why.
 */
import { assertNever, Conflict } from '../core/errors.js';
import type { Pool } from '../core/types.js';
import {
  type SandboxHandle,
  type SandboxProvider,
  SUSPEND_STRATEGIES,
  type SuspendStrategy,
} from '../providers/types.js';

/** The strategy a suspend will use and, when it is not the one wanted, why. */
export interface SuspendPlan {
  strategy: SuspendStrategy;
  wanted: SuspendStrategy;
  /** Why `wanted` was not used (null when it was). */
  fellBack: string | null;
}

type PoolView = Pick<Pool, 'mode' | 'suspendConfig' | 'providerId'> & { name?: string };

/**
 * Why `strategy` cannot be carried out for a session of `pool` whose sandbox is `handle` (null
 * when it can). Without a handle only the provider and the pool's mode are checked.
 *
 * @example
 * whyNot(dockerProvider, pool, 'release_to_pool') // "pool p is managed: release_to_pool needs ..."
 */
export function whyNot(
  provider: SandboxProvider | undefined,
  pool: Pick<Pool, 'mode' | 'providerId'> & { name?: string },
  strategy: SuspendStrategy,
  handle?: SandboxHandle | null,
): string | null {
  if (strategy === 'terminate') return null;
  if (strategy === 'release_to_pool')
    return pool.mode !== 'managed'
      ? null
      : `${label(pool)} is managed: release_to_pool needs runners that go back to a pool (pool or external mode)`;
  if (pool.mode !== 'managed')
    return `${label(pool)} is ${pool.mode}: its runners are machines the server does not manage, so it cannot ${strategy} them`;
  if (!provider) return `provider ${pool.providerId} is not available on this server`;
  const supported = provider.supportedSuspendStrategies?.() ?? ['terminate'];
  const ops = (() => {
    switch (strategy) {
      case 'pause':
        return provider.pause !== undefined && provider.unpause !== undefined;
      case 'snapshot':
        return provider.snapshot !== undefined && provider.restore !== undefined;
      case 'terminate_preserve_storage':
        return provider.stopPreserveStorage !== undefined;
      default:
        return assertNever(strategy, 'suspend strategy');
    }
  })();
  if (!supported.includes(strategy) || !ops) return `provider ${pool.providerId} does not support ${strategy}`;
  if (strategy === 'snapshot' && handle?.metadata.readOnlyRootfs === true)
    return `the root filesystem of this session's sandbox is read-only, so a snapshot would keep nothing beyond the workspace (a pool whose suspend_config strategy or fallback is snapshot starts writable sandboxes)`;
  return null;
}

function label(pool: { name?: string }): string {
  return pool.name ? `pool ${pool.name}` : 'the pool';
}

/**
 * Whether `provider` can carry out `strategy` for a pool of this mode.
 *
 * @example
 * canHonour(dockerProvider, 'managed', 'release_to_pool') // false: managed sandboxes have no pool to go back to
 */
export function canHonour(
  provider: SandboxProvider | undefined,
  mode: Pool['mode'],
  strategy: SuspendStrategy,
  handle?: SandboxHandle | null,
): boolean {
  return whyNot(provider, { mode, providerId: provider?.id ?? '' }, strategy, handle) === null;
}

/**
 * Picks the strategy: `requested`, else the pool's; the pool's fallback when it cannot be
 * honoured; `terminate` when the fallback cannot be either. `fellBack` says why.
 *
 * @example
 * resolveStrategy(pool, docker, undefined, readOnlyHandle)
 * // { strategy: 'terminate_preserve_storage', wanted: 'snapshot', fellBack: 'the root filesystem ... read-only ...; used the pool's fallback ...' }
 */
export function resolveStrategy(
  pool: PoolView,
  provider: SandboxProvider | undefined,
  requested?: SuspendStrategy,
  handle?: SandboxHandle | null,
): SuspendPlan {
  const wanted = requested ?? pool.suspendConfig.strategy;
  const why = whyNot(provider, pool, wanted, handle);
  if (why === null) return { strategy: wanted, wanted, fellBack: null };
  const fallback = pool.suspendConfig.fallback;
  const fbWhy = whyNot(provider, pool, fallback, handle);
  if (fbWhy === null)
    return {
      strategy: fallback,
      wanted,
      fellBack: `${wanted} not possible: ${why}; used the pool's fallback ${fallback}`,
    };
  return {
    strategy: 'terminate',
    wanted,
    fellBack: `${wanted} not possible: ${why}; nor the fallback ${fallback} (${fbWhy}); used terminate`,
  };
}

/**
 * The plan for a strategy asked for explicitly: exactly it, or a Conflict saying why not and
 * which strategies would work for this session.
 */
export function strictPlan(
  sessionId: string,
  pool: PoolView,
  provider: SandboxProvider | undefined,
  requested: SuspendStrategy,
  handle?: SandboxHandle | null,
): SuspendPlan {
  const why = whyNot(provider, pool, requested, handle);
  if (why === null) return { strategy: requested, wanted: requested, fellBack: null };
  const possible = SUSPEND_STRATEGIES.filter((s) => whyNot(provider, pool, s, handle) === null);
  const own = resolveStrategy(pool, provider, undefined, handle).strategy;
  throw new Conflict(`session ${sessionId} cannot be suspended with ${requested}: ${why}`, {
    hint: `use --strategy ${possible.join('|')}, or leave --strategy out for the pool's suspend_config (${own} here)`,
    details: { requested, possible },
  });
}
