/**
 * @module Terminates that failed, and their retries. A runner is never marked `terminated` while
 * its sandbox may still run: when the provider's `terminate` throws, the runner goes `offline`
 * (draining, so it takes no task if it reconnects), the failure is recorded (a `runner_terminate_failed`
 * session event when the runner has a session, an error in the log, `runner:updated` on the bus),
 * and the terminate is retried with exponential backoff (1 s, 2 s, 4 s, ... up to 5 min) until it
 * succeeds. After a server restart the reconciler terminates the runners left `offline` again
 * (src/server/reconciler.ts), so a retry is never lost with the process.
 */
import { toError } from '../core/errors.js';
import type { Runner } from '../store/records.js';
import type { ServerContext } from './context.js';

/** Where a runner's retries stand. */
export interface TerminateFailure {
  attempts: number;
  lastError: string;
  nextAttemptAt: number;
}

export interface TerminateRetryOptions {
  /** First delay; doubled per failure. Default 1 s. */
  baseMs?: number;
  /** Largest delay. Default 5 min. */
  maxMs?: number;
}

export class TerminateRetries {
  private readonly failures = new Map<string, TerminateFailure>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly baseMs: number;
  private readonly maxMs: number;
  private closed = false;

  constructor(
    private readonly ctx: ServerContext,
    /** Terminates the runner again (reads it fresh; a terminated one is left alone). */
    private readonly retry: (runnerId: string) => Promise<void>,
    opts: TerminateRetryOptions = {},
  ) {
    this.baseMs = opts.baseMs ?? 1000;
    this.maxMs = opts.maxMs ?? 5 * 60_000;
  }

  /** The failure on record for a runner, if its terminate is being retried. */
  get(runnerId: string): TerminateFailure | undefined {
    return this.failures.get(runnerId);
  }

  /**
   * Records that the provider could not terminate `runner`'s sandbox, takes the runner out of
   * service (`offline`, draining) and schedules the next attempt.
   */
  async failed(runner: Runner, reason: string, e: unknown): Promise<TerminateFailure> {
    const { store } = this.ctx;
    const err = toError(e);
    const attempts = (this.failures.get(runner.id)?.attempts ?? 0) + 1;
    const delay = Math.min(this.maxMs, this.baseMs * 2 ** (attempts - 1));
    const failure: TerminateFailure = { attempts, lastError: err.message, nextAttemptAt: Date.now() + delay };
    this.failures.set(runner.id, failure);
    const fresh = await store.runners.get(runner.id);
    if (fresh && fresh.state !== 'offline' && fresh.state !== 'terminated')
      await store.runners.transition(runner.id, 'offline', { draining: 1 }, [fresh.state]);
    else if (fresh?.state === 'offline' && !fresh.draining) await store.runners.update(runner.id, { draining: 1 });
    this.ctx.log.error(
      { err, runnerId: runner.id, attempts, retryInMs: delay, reason },
      'provider terminate failed: the runner stays offline and the terminate is retried',
    );
    if (runner.sessionId)
      await store.sessions.addEvent(runner.sessionId, runner.orgId, 'runner_terminate_failed', {
        runnerId: runner.id,
        attempt: attempts,
        error: err.message,
        retryInMs: delay,
        nextAttemptAt: new Date(failure.nextAttemptAt).toISOString(),
      });
    const after = await store.runners.get(runner.id);
    if (after) this.ctx.bus.emit('runner:updated', { runner: after });
    this.schedule(runner.id, delay);
    return failure;
  }

  /** The terminate went through: the runner's record goes. */
  succeeded(runnerId: string): void {
    if (!this.failures.delete(runnerId)) return;
    const t = this.timers.get(runnerId);
    if (t) clearTimeout(t);
    this.timers.delete(runnerId);
    this.ctx.log.info({ runnerId }, 'provider terminate succeeded on retry');
  }

  private schedule(runnerId: string, delay: number): void {
    if (this.closed) return;
    const old = this.timers.get(runnerId);
    if (old) clearTimeout(old);
    const t = setTimeout(() => {
      this.timers.delete(runnerId);
      void this.retry(runnerId).catch((e: unknown) =>
        this.ctx.log.error({ err: toError(e), runnerId }, 'retrying a terminate failed'),
      );
    }, delay);
    t.unref();
    this.timers.set(runnerId, t);
  }

  /** Stops retrying (server shutdown); the reconciler picks the runners up at the next start. */
  close(): void {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
