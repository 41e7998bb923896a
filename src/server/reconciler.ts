/**
 * @module The reconciler: makes the engine agree with the store, at start and periodically.
 *
 * Everything goes through the provider contract (src/providers/types.ts), the same way for every
 * provider, `local` included:
 *
 * 1. At start only: runners of managed pools a previous server process was still provisioning (no
 *    handle was ever written, created before this process started) are terminated, and their
 *    sessions go back to `scheduling`; runners whose terminate failed in a previous process
 *    (`offline` with a handle) are terminated again. (Sessions caught mid-suspend or mid-resume are
 *    settled before this, by `SuspendService.recoverInterrupted`: see src/server/suspend-steps.ts.)
 * 2. Orphans: every provider lists what it started (`list`) and removes, through `reapOrphans`,
 *    each object of this install whose owner is gone. Another install's objects (same engine,
 *    same label prefix, same home) are never touched; an object from before install ids (no
 *    install id) is this install's only if its runner, session or pool is in this store
 *    (`isKnown`); the rest are left alone and counted in the log. A `sandbox` (container, process
 *    group) is owned by its runner (live, `suspended` = mid-suspend, or `offline` = its terminate
 *    is being retried); `storage` (a volume, a snapshot image) by its runner or by its session
 *    while that session has not ended (a suspended session keeps its storage); a `network` by its pool.
 * 3. Dead sandboxes: each live runner of a managed pool whose provider reports its sandbox
 *    `terminated`/`failed` through `status()` is marked offline (its task is lost and the retry
 *    policy applies). A local runner killed with `kill -9` is found this way, like a dead container.
 */
import { assertNever, toError } from '../core/errors.js';
import { isTerminalSession, RUNNER_HOLDS_SANDBOX, RUNNER_LIVE } from '../core/states.js';
import type { RunnerState } from '../core/types.js';
import type { OwnedObject, SandboxProvider } from '../providers/types.js';
import type { ServerContext } from './context.js';
import type { RunnerService } from './runners.js';
import type { SessionService } from './sessions.js';

/**
 * Runner states whose sandbox must be left alone (`suspended`: a suspend is removing or committing
 * it; `offline`: its terminate failed and is being retried, or it is being let go right now).
 */
const OWNS_SANDBOX: readonly RunnerState[] = [...RUNNER_HOLDS_SANDBOX, 'offline'];

export interface ReconcileReport {
  removed: number;
  failed: number;
  offline: number;
}

export class Reconciler {
  constructor(
    private readonly ctx: ServerContext,
    private readonly runners: RunnerService,
    private readonly sessions: SessionService,
    /** When this server process started: rows older than this cannot be in flight here. */
    private readonly startedAt: number,
  ) {}

  /** Providers that are reachable right now (per the last health probe). */
  private reachable(id: string): boolean {
    return (this.sessions.providerHealth.get(id) ?? null) === null;
  }

  /** Step 1 (start only), then a first `tick`. */
  async atStart(): Promise<ReconcileReport> {
    const { store } = this.ctx;
    const managed = async (poolId: string | null) =>
      poolId !== null && (await store.pools.byId(poolId))?.mode === 'managed';
    for (const r of await store.runners.list({ states: ['offline'] })) {
      if (r.handle === null || r.updatedAt >= this.startedAt || !(await managed(r.poolId))) continue;
      await this.runners.terminate(r, 'left offline by a previous server (its terminate may have failed)');
    }
    for (const [id] of this.ctx.providers) {
      for (const r of await store.runners.list({ states: ['provisioning', 'connecting', 'idle', 'busy'] })) {
        if (r.providerId !== id || r.handle !== null || r.createdAt >= this.startedAt) continue;
        if (!(await managed(r.poolId))) continue;
        await this.runners.terminate(r, 'the server stopped while provisioning this runner');
        this.ctx.log.warn({ runnerId: r.id }, 'runner left half-provisioned by a previous server: terminated');
        if (r.sessionId) {
          const s = await store.sessions.get(r.sessionId);
          if (s && s.state === 'provisioning' && (s.runnerId === null || s.runnerId === r.id)) {
            await store.sessions.transition(s.id, 'scheduling', { runner_id: null }, ['provisioning']);
            await store.sessions.addEvent(s.id, s.orgId, 'reprovision', { runnerId: r.id, reason: 'server restart' });
          }
        }
      }
    }
    for (const s of await store.sessions.listByState(['provisioning'])) {
      if (s.updatedAt >= this.startedAt) continue;
      const pool = s.poolId ? await store.pools.byId(s.poolId) : null;
      if (pool?.mode !== 'managed' || !this.ctx.providers.has(pool.providerId)) continue;
      if (s.runnerId === null) await store.sessions.transition(s.id, 'scheduling', {}, ['provisioning']);
    }
    const report = await this.tick();
    this.sessions.kick();
    return report;
  }

  /** Steps 2 and 3. Unreachable providers are skipped until the health probe sees them back. */
  async tick(): Promise<ReconcileReport> {
    const report: ReconcileReport = { removed: 0, failed: 0, offline: 0 };
    for (const [id, provider] of this.ctx.providers) {
      if (!this.reachable(id)) continue;
      const r = await provider.reapOrphans(
        (o) => this.isLive(o),
        (o) => this.isKnown(o),
      );
      this.noteForeign(id, r.foreign);
      report.removed += r.removed.length;
      report.failed += r.failed.length;
      for (const o of r.removed)
        this.ctx.log.info({ provider: id, kind: o.kind, name: o.name, owner: o.owner }, 'reaped an orphaned object');
      for (const f of r.failed)
        this.ctx.log.error(
          { provider: id, kind: f.object.kind, name: f.object.name, err: f.error },
          'reaping an orphaned object failed',
        );
    }
    report.offline = await this.checkSandboxes();
    return report;
  }

  /** Providers whose unlabelled (pre-install-id) objects were already reported. */
  private readonly reportedLegacy = new Set<string>();

  /** Says once per provider that objects from before install ids were left alone, and how many. */
  private noteForeign(provider: string, foreign: OwnedObject[]): void {
    const legacy = foreign.filter((o) => !o.owner.install);
    if (legacy.length === 0 || this.reportedLegacy.has(provider)) return;
    this.reportedLegacy.add(provider);
    this.ctx.log.warn(
      { provider, count: legacy.length, names: legacy.slice(0, 20).map((o) => `${o.kind} ${o.name}`) },
      'objects with no install label whose owner this install does not know were left alone (another install, or from before install ids); remove them by hand once nothing uses them',
    );
  }

  /** Whether an object with no install label is this install's: its runner, session or pool is in this store. */
  async isKnown(o: OwnedObject): Promise<boolean> {
    const { store } = this.ctx;
    if (o.owner.runner && (await store.runners.get(o.owner.runner))) return true;
    if (o.owner.session && (await store.sessions.get(o.owner.session))) return true;
    return o.owner.pool !== '' && (await store.pools.byId(o.owner.pool)) !== null;
  }

  /** Whether a labelled object still has an owner. Reads the store per object, after it was listed. */
  async isLive(o: OwnedObject): Promise<boolean> {
    const { store } = this.ctx;
    if (o.owner.runner) {
      const runner = await store.runners.get(o.owner.runner);
      if (runner && OWNS_SANDBOX.includes(runner.state)) return true;
    }
    switch (o.role) {
      case 'sandbox':
        return false;
      case 'storage': {
        if (!o.owner.session) return false;
        const session = await store.sessions.get(o.owner.session);
        return session !== null && !isTerminalSession(session.state);
      }
      case 'network':
        return o.owner.pool !== '' && (await store.pools.byId(o.owner.pool)) !== null;
      default:
        return assertNever(o.role);
    }
  }

  /** Live runners of managed pools whose sandbox died go offline. Returns how many. */
  async checkSandboxes(): Promise<number> {
    const { store } = this.ctx;
    let n = 0;
    for (const runner of await store.runners.live()) {
      if (!runner.handle) continue;
      const provider = this.ctx.providers.get(runner.providerId);
      if (!provider || !this.reachable(provider.id)) continue;
      const pool = await store.pools.byId(runner.poolId);
      if (pool?.mode !== 'managed') continue;
      let status: Awaited<ReturnType<SandboxProvider['status']>>;
      try {
        status = await provider.status(runner.handle);
      } catch (e: unknown) {
        this.ctx.log.warn({ err: toError(e), runnerId: runner.id }, 'sandbox status unknown');
        continue;
      }
      if (status !== 'terminated' && status !== 'failed') continue;
      // Re-read: a suspend or a terminate may have moved the runner on meanwhile.
      const fresh = await store.runners.get(runner.id);
      if (!fresh || !RUNNER_LIVE.includes(fresh.state)) continue;
      // The provider's own words for it (an OOM kill, an exit code), when it has them.
      const why = await provider.statusReason?.(runner.handle).catch(() => null);
      const reason = `the sandbox of runner ${runner.id} is ${status}${why ? `: ${why}` : ''}`;
      if (await this.runners.markOffline(fresh, reason)) n++;
    }
    return n;
  }
}
