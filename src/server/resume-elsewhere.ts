/**
 * @module Resuming a suspended session on another pool or provider (`mctl sessions resume ID
 * --pool NAME | --provider P`, `POST /v1/sessions/:id/resume` with `{pool, provider}`).
 *
 * Sessions reach pools through their request (`pool`, `provider`, `selector`, ...), which the
 * scheduler reads on every placement. A move therefore rewrites the request's `pool`/`provider`
 * (so the placement, and any later one, goes there) and places the session afresh; the new
 * runner restores the workspace from the store (the session's newest snapshot).
 *
 * Refused, before anything changes:
 * - an unknown provider or a pool the session's org (and project) does not have: 400;
 * - a pool whose provider is not the `provider` also given: 400;
 * - a pool (or, with `provider` alone, every pool of it) the session's requirements do not fit
 *   (the scheduler's verdict says why): 409. A pool that fits but is full is accepted (the session
 *   waits for capacity there);
 * - a session whose suspension did not put its workspace in the store (a `pause`, `terminate`,
 *   or a snapshot that failed): 409, since its files could not follow it.
 */
import { Conflict, InvalidRequest } from '../core/errors.js';
import type { PoolVerdict } from '../core/types.js';
import { orgScope } from '../store/index.js';
import type { Session, SessionRequest } from '../store/records.js';
import type { ServerContext } from './context.js';
import { checkProvider } from './session-requests.js';
import type { SessionService } from './sessions.js';

/** Where a resume is asked to go; both absent: where the session was. */
export interface ResumeTarget {
  pool?: string | undefined;
  provider?: string | undefined;
}

/** Verdicts under which a pool can take the session (now, or once it has room). */
const FITS = new Set<PoolVerdict['reason']>([null, 'at_capacity', 'lower_priority']);

/**
 * The session's request rewritten for `target`, or null when the target is where the session
 * already is (a plain resume). Throws the errors listed in the module header.
 */
export async function planMove(
  ctx: ServerContext,
  sessions: SessionService,
  session: Session,
  target: ResumeTarget,
): Promise<SessionRequest | null> {
  const { pool, provider } = target;
  if (!pool && !provider) return null;
  if (provider) checkProvider(provider);
  const current = session.poolId ? await ctx.store.pools.byId(session.poolId) : null;
  if (
    pool &&
    current &&
    (current.name === pool || current.id === pool) &&
    (!provider || provider === current.providerId)
  )
    return null;
  // Already on that provider: nothing moves (its kept storage is the fast path).
  if (!pool && provider && current?.providerId === provider) return null;
  const request: SessionRequest = { ...session.request, pool: pool ?? null, provider: provider ?? null };
  const decision = await sessions.evaluate(orgScope(session.orgId), session.projectId, request);
  if (pool) {
    const v = decision.verdicts.find((x) => x.poolName === pool || x.poolId === pool);
    if (!v)
      throw new InvalidRequest(`pool: no pool named ${JSON.stringify(pool)} can be seen by session ${session.id}`, {
        hint: 'pools are listed by `mctl pools list`',
      });
    if (provider && v.providerId !== provider)
      throw new InvalidRequest(`pool ${v.poolName} is on provider ${v.providerId}, not ${provider}`, {
        hint: 'give --pool alone, or a pool of that provider',
      });
    if (!FITS.has(v.reason))
      throw new Conflict(`session ${session.id} cannot resume on pool ${v.poolName}: ${v.detail}`, {
        hint: 'pick a pool its agent, profile and selector fit (`mctl sessions explain` shows the verdicts)',
        details: { pool: v.poolName, reason: v.reason },
      });
  } else {
    const ofProvider = decision.verdicts.filter((x) => x.providerId === provider);
    if (!ofProvider.some((x) => FITS.has(x.reason)))
      throw new Conflict(
        `session ${session.id} cannot resume on provider ${provider}: ${
          ofProvider.length ? ofProvider.map((x) => `${x.poolName}: ${x.detail}`).join('; ') : 'no pool uses it'
        }`,
        { details: { provider, verdicts: ofProvider } },
      );
  }
  await assertStored(ctx, session);
  return request;
}

/** Refuses a move when the suspension did not leave the workspace in the store. */
async function assertStored(ctx: ServerContext, session: Session): Promise<void> {
  const info = session.suspend;
  const strategy = info?.strategy ?? 'terminate';
  const snap = await ctx.store.snapshots.latest(session.id);
  const stored = snap && snap.reason === 'suspend' && info && snap.createdAt >= info.suspendedAt;
  if (strategy === 'pause' || !stored)
    throw new Conflict(
      `session ${session.id} was suspended with ${strategy} and its workspace is not in the workspace store; it cannot move to another pool or provider`,
      {
        hint:
          strategy === 'pause'
            ? `resume it where it is (\`mctl sessions resume ${session.id}\`), then suspend it with --strategy terminate_preserve_storage before moving it`
            : `resume it where it is (\`mctl sessions resume ${session.id}\`)`,
        details: { strategy, snapshotId: snap?.id ?? null },
      },
    );
}
