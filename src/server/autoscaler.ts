/**
 * @module Warm pools for managed pools (local, docker, ...): keep `min_runners` idle, unbound
 * runners ready, never start one past `max_runners` live, and stop idle unbound runners that have
 * been idle longer than `idle_timeout` (never going below `min_runners` warm).
 *
 * Reconciliation is level-triggered: each pass reads the live runners of every managed pool and
 * moves them toward the target, so a missed event only delays a pass. Passes run periodically and
 * whenever a pool changes or a runner changes state (coalesced: one at a time, and at most one
 * queued behind it). Stopping a runner first takes it out of service with a compare-and-set
 * (`idle` and unbound → `draining`), so a task claim racing the reaper either wins (and the runner
 * stays) or loses (and the runner is stopped); never both.
 *
 * Growth on demand is the scheduler's part: a session that finds no idle runner provisions one
 * (up to `max_runners`); when the warm runners are taken, this pass starts replacements.
 * Pool and external pools are not scaled (their runners join by themselves; `mctl pools show`
 * warns when they have fewer than `min_runners`), but their `idle_timeout` is applied the same way:
 * an idle, unbound runner past it is told to shut down (src/server/dial-in.ts). The plan itself is pure: src/core/autoscale-plan.ts.
 */
import { planPool } from '../core/autoscale-plan.js';
import { toError } from '../core/errors.js';
import type { Pool } from '../core/types.js';
import type { ServerContext } from './context.js';
import { dialsIn, idleReason } from './dial-in.js';
import { ALWAYS_HELD, type LoopGate } from './loop-lease.js';
import { PoolFull } from './runner-provision.js';
import type { RunnerService } from './runners.js';

export class Autoscaler {
  /** Pools that were warm in an earlier pass and may still hold unbound runners to reap. */
  private readonly wasWarm = new Set<string>();
  /** The first pass after start reads every managed pool (what was warm before a restart is unknown). */
  private firstPass = true;
  private running = false;
  private wanted = false;
  private idle: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private readonly unsubscribe: (() => void)[] = [];
  private closed = false;
  private gate: LoopGate = ALWAYS_HELD;
  /** Per pool: no provisioning before this instant (after a failure, with backoff). */
  private readonly backoff = new Map<string, { until: number; failures: number }>();

  constructor(
    private readonly ctx: ServerContext,
    private readonly runners: RunnerService,
    /** Health of providers as probed by the server (`null` or absent = reachable). */
    private readonly providerHealth: ReadonlyMap<string, string | null>,
    /** Every org's pools (the session service's cached catalog: this runs on every runner change). */
    private readonly listPools: () => Promise<Pool[]> = () => ctx.store.pools.listAll(),
  ) {}

  /**
   * Starts periodic passes and event-driven ones; passes run only while `gate` is held (the
   * singleton loop lease, src/server/loop-lease.ts).
   */
  start(intervalMs = 500, gate: LoopGate = ALWAYS_HELD): void {
    this.gate = gate;
    this.unsubscribe.push(
      this.ctx.bus.on('pool:changed', ({ poolId }) => {
        this.backoff.delete(poolId);
        this.request();
      }),
      this.ctx.bus.on('runner:updated', () => this.request()),
    );
    this.timer = setInterval(() => this.request(), intervalMs);
    this.timer.unref();
    this.request();
  }

  /** Asks for a pass (coalesced). */
  request(): void {
    if (this.closed || !this.gate.held) return;
    this.wanted = true;
    if (this.running) return;
    this.running = true;
    this.idle = (async () => {
      while (this.wanted && !this.closed) {
        this.wanted = false;
        try {
          await this.reconcile();
        } catch (e: unknown) {
          this.ctx.log.error({ err: toError(e) }, 'autoscaler pass failed');
        }
      }
      this.running = false;
    })();
  }

  /** One pass over every managed pool. */
  async reconcile(now = Date.now()): Promise<void> {
    const { store } = this.ctx;
    // This pass runs on every runner change, so pools with nothing to keep must cost nothing:
    // only warm pools (runners to hold ready, idle ones to reap), deactivated ones, and pools that
    // were warm until recently (their leftover unbound runners still need reaping) are read; the
    // first pass after a start reads them all.
    const pools = (await this.listPools()).filter(
      (p) =>
        (p.mode === 'managed' || p.idleTimeoutMs !== null) &&
        (this.firstPass || p.minRunners > 0 || p.idleTimeoutMs !== null || !p.active || this.wasWarm.has(p.id)),
    );
    this.firstPass = false;
    for (const pool of pools) {
      if (this.closed) return;
      const mine = await store.runners.live({ poolId: pool.id });
      if (pool.minRunners > 0 || pool.idleTimeoutMs !== null) this.wasWarm.add(pool.id);
      else if (!mine.some((r) => r.sessionId === null)) this.wasWarm.delete(pool.id);
      // A deactivated pool-mode pool takes no new work but does not send its machines away.
      const plan = planPool(dialsIn(pool) ? { ...pool, active: true } : pool, mine, now);
      for (const id of plan.reap) await this.reap(pool, id);
      // Pool and external runners join by themselves: only their idle_timeout applies (src/server/dial-in.ts).
      if (plan.provision > 0 && !dialsIn(pool)) await this.grow(pool, plan.provision, now);
    }
  }

  private async reap(pool: Pool, runnerId: string): Promise<void> {
    const { store } = this.ctx;
    if (!(await store.runners.retireIdle(runnerId))) return; // claimed or bound meanwhile: it stays
    const runner = await store.runners.get(runnerId);
    if (!runner) return;
    this.ctx.log.info({ runnerId, pool: pool.name }, 'reaping idle warm runner');
    await this.runners.terminate(runner, idleReason(pool));
  }

  private async grow(pool: Pool, n: number, now: number): Promise<void> {
    if (this.ctx.providers.get(pool.providerId) === undefined) return;
    if (this.providerHealth.get(pool.providerId)) return;
    // No warm runner for an org without the provider's credential (sessions show `credential_missing`).
    if ((await this.ctx.credentials.missing(pool.orgId, [pool.providerId])).size) return;
    const b = this.backoff.get(pool.id);
    if (b && b.until > now) return;
    for (let i = 0; i < n && !this.closed; i++) {
      try {
        const r = await this.runners.provision(pool, null);
        this.ctx.log.info({ runnerId: r.id, pool: pool.name }, 'warm runner provisioned');
        this.backoff.delete(pool.id);
      } catch (e: unknown) {
        // Sessions took the last slots meanwhile: nothing failed, there is just no room.
        if (e instanceof PoolFull) return;
        const failures = (this.backoff.get(pool.id)?.failures ?? 0) + 1;
        const wait = Math.min(60_000, 1000 * 2 ** Math.min(failures - 1, 6));
        this.backoff.set(pool.id, { until: Date.now() + wait, failures });
        this.ctx.log.warn(
          { err: toError(e), pool: pool.name, retryInMs: wait },
          'provisioning a warm runner failed; backing off',
        );
        return;
      }
    }
  }

  /** Stops passes; resolves when the running one is done. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    for (const u of this.unsubscribe) u();
    await this.idle;
  }
}
