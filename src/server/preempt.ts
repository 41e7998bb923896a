/**
 * @module Making room: an idle session that holds a runner another session waits for is suspended
 * with its pool's suspend strategy, so the waiting one runs (`sessions.preempt_idle`, on by
 * default; per pool `suspend_config.preempt_idle`). The choice is pure (`core/preempt.ts`); this
 * reads the store, suspends through SuspendService, and records why.
 *
 * A pass runs every {@link TICK_MS} and soon after a session changes state (coalesced). It is
 * cheap when there is nothing to do: it reads the live runners and stops unless some runner is
 * held by an idle session; it reads waiting sessions only when such a holder sits in a pool that
 * has no room (managed: `max_runners` live and none idle and unbound; pool / external: no idle
 * unbound runner).
 *
 * The victim's `state_reason` and a `preempted` event say it was suspended to make room and for
 * which session (`mctl sessions get` / `explain`); the waiting session gets a `made_room` event. A
 * session suspended this way that gets a new task is resumed by the next pass once its pool has
 * room (a suspend the user asked for is left alone: they resume it).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { toError } from '../core/errors.js';
import { choosePreemptions, type Preemption, type RunnerHolder, type WaitingSession } from '../core/preempt.js';
import { firstFailingTerm, mergeSelectors, parseSelector, type Selector } from '../core/selector.js';
import type { Pool } from '../core/types.js';
import type { SandboxProvider, SuspendStrategy } from '../providers/types.js';
import { orgScope } from '../store/index.js';
import type { Session } from '../store/records.js';
import type { LiveRunner } from '../store/repos/runners.js';
import type { ServerContext } from './context.js';
import { ALWAYS_HELD, type LoopGate } from './loop-lease.js';
import type { SessionService } from './sessions.js';
import { canHonour, resolveStrategy, type SuspendService } from './suspend.js';

/** How often a pass runs without being asked. */
const TICK_MS = 2_000;
/** Passes asked for by events are at least this far apart (a busy server changes sessions often). */
const MIN_GAP_MS = 250;
/** Waiting sessions read per pass (queue order); the rest are seen by later passes. */
const WAITING_LIMIT = 200;
/** The `state_reason` words that mark a session suspended to make room (and resumable by a pass). */
export const MADE_ROOM = 'to make room for session';

export class Preempter {
  private running = false;
  private gate: LoopGate = ALWAYS_HELD;
  private wanted = false;
  private idle: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private readonly offBus: () => void;

  constructor(
    private readonly ctx: ServerContext,
    private readonly sessions: SessionService,
    private readonly suspend: SuspendService,
  ) {
    this.offBus = ctx.bus.on('session:updated', ({ session }) => {
      if (session.state === 'scheduling' || session.state === 'idle') this.kick();
    });
  }

  /** Passes run only while `gate` is held (the singleton loop lease, src/server/loop-lease.ts). */
  start(gate: LoopGate = ALWAYS_HELD): void {
    this.gate = gate;
    this.timer = setInterval(() => this.kick(), TICK_MS);
    this.timer.unref();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.offBus();
    await this.idle;
  }

  /** Asks for a pass (coalesced: at most one runs at a time). */
  kick(): void {
    this.wanted = true;
    if (this.running || this.timer === null || !this.gate.held) return;
    this.running = true;
    this.idle = (async () => {
      while (this.wanted) {
        this.wanted = false;
        try {
          await this.pass();
        } catch (e: unknown) {
          this.ctx.log.error({ err: toError(e) }, 'preemption pass failed');
        }
        if (this.wanted && this.timer !== null) await sleep(MIN_GAP_MS);
      }
      this.running = false;
    })();
  }

  private enabled(pool: Pool | undefined): boolean {
    if (!pool) return false;
    return pool.suspendConfig.preemptIdle ?? this.ctx.config.preemptIdle;
  }

  /** One pass: pick victims for waiting sessions and suspend them; resume made-room sessions with work. */
  async pass(now = Date.now()): Promise<void> {
    const { store } = this.ctx;
    const pools = await this.sessions.allPools();
    if (!this.ctx.config.preemptIdle && !pools.some((p) => p.suspendConfig.preemptIdle === true)) return;
    const poolById = new Map(pools.map((p) => [p.id, p]));
    const live = await store.runners.liveViews();
    const blockedResumes = await this.resumeWithWork(live, poolById);
    const held = live.filter((r) => r.state === 'idle' && r.sessionId !== null && !r.draining);
    if (held.length === 0) return;
    const full = new Set(pools.filter((p) => this.enabled(p) && !hasRoom(p, live)).map((p) => p.id));
    const inFull = held.filter((r) => full.has(r.poolId));
    if (inFull.length === 0) return;

    // Who holds them, and whether they have work of their own.
    const owners = new Map((await store.sessions.getMany(inFull.map((r) => r.sessionId!))).map((s) => [s.id, s]));
    const withWork = new Set((await store.tasks.queuedRefsIn([...owners.keys()])).map((t) => t.sessionId));
    const holders: RunnerHolder[] = [];
    for (const r of inFull) {
      const s = owners.get(r.sessionId!);
      if (!s || s.runnerId !== r.id) continue;
      holders.push({
        sessionId: s.id,
        sessionState: s.state,
        idleSince: s.updatedAt,
        openTasks: withWork.has(s.id) ? 1 : 0,
        runnerId: r.id,
        runnerState: r.state,
        poolId: r.poolId,
      });
    }
    const policy = {
      now,
      minIdleMs: this.ctx.config.preemptMinIdleMs,
      enabled: (poolId: string) => this.enabled(poolById.get(poolId)),
    };
    if (!holders.some((h) => h.sessionState === 'idle' && now - h.idleSince >= policy.minIdleMs)) return;

    // Who waits, with a task to run, for one of those pools.
    const views = await store.sessions.passViews({ states: ['scheduling'] });
    if (views.length === 0 && blockedResumes.length === 0) return;
    const queued = await store.tasks.queuedRefsIn(views.map((v) => v.id));
    const firstTask = new Map<string, number>();
    for (const t of queued) if (!firstTask.has(t.sessionId)) firstTask.set(t.sessionId, t.createdAt);
    const order = views
      .filter((v) => firstTask.has(v.id))
      .sort((a, b) => b.priority - a.priority || (firstTask.get(a.id) ?? 0) - (firstTask.get(b.id) ?? 0))
      .slice(0, WAITING_LIMIT);
    const waitingSessions = await store.sessions.getMany(order.map((v) => v.id));
    const byId = new Map(waitingSessions.map((s) => [s.id, s]));
    const waiting: WaitingSession[] = [];
    for (const v of order) {
      const s = byId.get(v.id);
      if (s?.state !== 'scheduling' || s.runnerId !== null) continue;
      // Only its own org's pools (placement never names another's; kept explicit here).
      const blocked = blockedPools(s).filter((id) => full.has(id) && poolById.get(id)?.orgId === s.orgId);
      if (blocked.length)
        waiting.push({ id: s.id, priority: v.priority, queuedAt: firstTask.get(s.id)!, blockedPoolIds: blocked });
    }
    for (const w of blockedResumes) if (full.has(w.blockedPoolIds[0]!)) waiting.push(w);
    if (waiting.length === 0) return;
    const selectors = new Map<string, Selector | null>();
    for (const w of waiting) {
      const s = byId.get(w.id);
      selectors.set(w.id, s ? await this.selectorOf(s) : null);
    }
    const labelsOf = new Map(live.map((r) => [r.id, r.labels]));
    const picks = choosePreemptions(waiting, holders, {
      ...policy,
      // A managed pool's new runner has the pool's labels (placement already matched them); a
      // pool / external runner that is released must itself match the waiting session's selector.
      fits: (w, h) => {
        const pool = poolById.get(h.poolId);
        const sel = selectors.get(w.id);
        if (!pool || pool.mode === 'managed' || !sel || sel.terms.length === 0) return true;
        return firstFailingTerm(sel, labelsOf.get(h.runnerId) ?? {}, pool.labels) < 0;
      },
    });
    for (const p of picks) await this.makeRoom(p, poolById.get(p.poolId)!);
  }

  private async selectorOf(s: Session): Promise<Selector | null> {
    try {
      const profile = s.request.profile ? await this.sessions.profile(orgScope(s.orgId), s.request.profile) : null;
      return mergeSelectors(
        s.request.selector ? parseSelector(s.request.selector) : null,
        profile?.selector ? parseSelector(profile.selector) : null,
      );
    } catch {
      return null;
    }
  }

  /** Suspends the victim with its pool's strategy and records why, on both sessions. */
  private async makeRoom(p: Preemption, pool: Pool): Promise<void> {
    const { store } = this.ctx;
    const victim = p.victim.sessionId;
    // The victim may have been given work since it was read: look again just before.
    const again = await store.sessions.get(victim);
    if (again?.state !== 'idle' || again.runnerId !== p.victim.runnerId) return;
    if ((await store.tasks.openInSession(victim)).length > 0) return;
    const why = `${MADE_ROOM} ${p.forSessionId} waiting on pool ${pool.name} (idle ${Math.round(p.idleMs / 1000)}s)`;
    const strategy = roomMakingStrategy(pool, this.ctx.providers.get(pool.providerId));
    if (strategy === null) {
      this.ctx.log.info({ sessionId: victim, pool: pool.name }, 'no suspend strategy of this pool frees a runner slot');
      return;
    }
    let suspended: Session;
    try {
      suspended = await this.suspend.suspend(victim, strategy);
    } catch (e: unknown) {
      // Refused (min_duration, a task arrived, a suspend in flight) or failed: the suspend says
      // why in the session's reason and events; the next pass looks again.
      this.ctx.log.info({ err: toError(e), sessionId: victim, for: p.forSessionId }, 'could not suspend to make room');
      return;
    }
    const reason = `${suspended.stateReason ?? 'suspended'} ${why}`;
    if (await store.sessions.transition(victim, 'suspended', { state_reason: reason }, ['suspended'])) {
      const strategy = suspended.suspend?.strategy ?? null;
      await store.sessions.addEvent(victim, suspended.orgId, 'preempted', {
        for: p.forSessionId,
        pool: pool.name,
        strategy,
        idleMs: p.idleMs,
      });
      await store.sessions.addEvent(p.forSessionId, suspended.orgId, 'made_room', {
        suspended: victim,
        pool: pool.name,
        strategy,
      });
      this.ctx.bus.emit('session:updated', { session: { ...suspended, stateReason: reason, updatedAt: Date.now() } });
    }
    this.ctx.log.info(
      { sessionId: victim, for: p.forSessionId, pool: pool.name },
      'idle session suspended to make room',
    );
    this.sessions.kick();
  }

  /**
   * Sessions suspended to make room that have been given a task since: resumed once their pool
   * has room (a resume that provisions on a full pool would only fail). Returns those still
   * waiting for room, as waiting sessions blocked on their own pool: an idle session there may be
   * suspended for them in turn.
   */
  private async resumeWithWork(
    live: readonly LiveRunner[],
    poolById: ReadonlyMap<string, Pool>,
  ): Promise<WaitingSession[]> {
    const { store } = this.ctx;
    const suspended = (await store.sessions.listByState(['suspended'])).filter((s) =>
      s.stateReason?.includes(MADE_ROOM),
    );
    if (suspended.length === 0) return [];
    const queued = await store.tasks.queuedRefsIn(suspended.map((s) => s.id));
    const firstTask = new Map<string, number>();
    for (const t of queued) if (!firstTask.has(t.sessionId)) firstTask.set(t.sessionId, t.createdAt);
    const blocked: WaitingSession[] = [];
    for (const s of suspended) {
      const queuedAt = firstTask.get(s.id);
      if (queuedAt === undefined) continue;
      const pool = s.poolId ? poolById.get(s.poolId) : undefined;
      const placesAgain = s.suspend?.strategy === 'terminate' || s.suspend?.strategy === 'release_to_pool';
      if (pool && !placesAgain && s.suspend?.strategy !== 'pause' && !hasRoom(pool, live)) {
        blocked.push({ id: s.id, priority: s.request.priority ?? 0, queuedAt, blockedPoolIds: [pool.id] });
        continue;
      }
      try {
        await this.suspend.resume(s.id);
        await store.sessions.addEvent(s.id, s.orgId, 'resumed_for_task', {});
      } catch (e: unknown) {
        this.ctx.log.info({ err: toError(e), sessionId: s.id }, 'resuming a session suspended to make room failed');
      }
    }
    return blocked;
  }
}

/**
 * The strategy that suspends an idle session of `pool` and frees its runner's slot: the pool's
 * own (as `resolveStrategy` picks it, fallback included), except `pause`, which keeps the
 * sandbox and so the slot (a paused runner still counts toward `max_runners`): then the pool's
 * fallback when that is not `pause` and can be honoured, else `terminate_preserve_storage` when it
 * can be. Null when none frees a slot without losing the workspace the pool meant to keep.
 */
export function roomMakingStrategy(
  pool: Pick<Pool, 'mode' | 'suspendConfig' | 'providerId'>,
  provider: SandboxProvider | undefined,
): SuspendStrategy | null {
  const own = resolveStrategy(pool, provider).strategy;
  if (own !== 'pause') return own;
  const fb = pool.suspendConfig.fallback;
  if (fb !== 'pause' && canHonour(provider, pool.mode, fb)) return fb;
  if (canHonour(provider, pool.mode, 'terminate_preserve_storage')) return 'terminate_preserve_storage';
  return null;
}

/** Whether a pool can take a session without anyone giving up a runner. */
function hasRoom(pool: Pool, live: readonly LiveRunner[]): boolean {
  let count = 0;
  for (const r of live) {
    if (r.poolId !== pool.id) continue;
    count++;
    if (r.state === 'idle' && r.sessionId === null && !r.draining) return true;
  }
  if (pool.mode !== 'managed') return false;
  return pool.maxRunners === null || count < pool.maxRunners;
}

/** Pools a waiting session could run in if one had a free runner (from its recorded placement). */
function blockedPools(s: Session): string[] {
  const p = s.placement;
  if (!p) return [];
  const out: string[] = [];
  for (const v of p.verdicts) {
    if (v.reason === 'at_capacity') out.push(v.poolId);
    else if (v.chosen && p.action === 'wait') out.push(v.poolId);
  }
  return out;
}
