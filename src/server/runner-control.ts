/**
 * @module Managed runners and the gateway's connections, for both sides of the server: starting
 * a managed runner's sandbox (runner-provision.ts), stopping it with its cost event, and the
 * gateway's live connections to send to runners. The session side and the runner side
 * (RunnerService) both hold it; it holds neither.
 */
import { newId } from '../core/ids.js';
import type { Pool } from '../core/types.js';
import type { Runner, Session } from '../store/records.js';
import type { ServerContext } from './context.js';
import { pausedMs } from './paused-time.js';
import type { GatewayLinks } from './runner-links.js';
import { provisionRunner } from './runner-provision.js';
import { TerminateRetries } from './terminate-retry.js';

export class RunnerControl {
  /** Runners whose sandbox is being stopped on purpose right now (the reconciler leaves them be). */
  private readonly terminating = new Set<string>();
  /** Terminates that failed, retried with backoff (the runner stays offline meanwhile). */
  private readonly terminateRetries: TerminateRetries;

  constructor(
    private readonly ctx: ServerContext,
    /** The gateway's live connections. */
    readonly gateway: GatewayLinks,
  ) {
    this.terminateRetries = new TerminateRetries(ctx, async (id) => {
      const r = await ctx.store.runners.get(id);
      if (r && r.state !== 'terminated') await this.terminate(r, 'retrying a terminate that failed');
    });
  }

  /** Whether the runner's sandbox is being stopped on purpose right now. */
  isTerminating(runnerId: string): boolean {
    return this.terminating.has(runnerId);
  }

  /**
   * Creates a runner row and a one-time registration token bound to it, then asks the pool's
   * provider to start the sandbox (see runner-provision.ts). Throws PoolFull or the provider's error.
   */
  provision(pool: Pool, session: Session | null): Promise<Runner> {
    return provisionRunner(this.ctx, pool, session);
  }

  /** Stops a managed runner's sandbox, marks it terminated and writes its cost event. */
  async terminate(runner: Runner, reason: string): Promise<void> {
    this.terminating.add(runner.id);
    try {
      await this.terminateNow(runner, reason);
    } finally {
      this.terminating.delete(runner.id);
    }
  }

  private async terminateNow(runner: Runner, reason: string): Promise<void> {
    const { store } = this.ctx;
    this.gateway.send(runner.id, { type: 'shutdown', ref: newId('cmd'), reason });
    const provider = this.ctx.providers.get(runner.providerId);
    if (runner.handle && provider) {
      try {
        await provider.terminate(runner.handle);
        this.terminateRetries.succeeded(runner.id);
      } catch (e: unknown) {
        // Never `terminated` while the sandbox may still run: offline, recorded, retried.
        this.gateway.connections.get(runner.id)?.close(1000, 'terminating');
        await this.terminateRetries.failed(runner, reason, e);
        return;
      }
    }
    this.gateway.connections.get(runner.id)?.close(1000, 'terminated');
    const now = Date.now();
    if (await store.runners.transition(runner.id, 'terminated', { stopped_at: now })) {
      await this.recordCost(runner, now);
      const fresh = await store.runners.get(runner.id);
      if (fresh) this.ctx.bus.emit('runner:updated', { runner: fresh });
    }
  }

  /**
   * A cost event: wall-clock seconds, the provider's billing model and the resources its handle
   * records; a provider that bills nothing while idle (`idleCostModel: zero`) is not charged for
   * the time the sandbox was paused.
   */
  async recordCost(runner: Runner, endedAt: number): Promise<void> {
    const provider = this.ctx.providers.get(runner.providerId);
    const res = runner.handle?.metadata.resources;
    const resources = res !== null && typeof res === 'object' ? (res as Record<string, unknown>) : null;
    const free =
      provider?.capabilities.idleCostModel === 'zero' && runner.sessionId
        ? pausedMs(
            await this.ctx.store.sessions.events(runner.sessionId, 0, 10_000),
            runner.id,
            runner.createdAt,
            endedAt,
          )
        : 0;
    await this.ctx.store.costs.addRunnerCost(
      runner,
      endedAt,
      provider?.capabilities.billingModel ?? 'fixed',
      resources,
      free,
    );
  }

  /** Stops the terminate retry timers (server shutdown). */
  close(): void {
    this.terminateRetries.close();
  }
}
