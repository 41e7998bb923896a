/**
 * @module Which replica runs the singleton loops (lease reaper, reconciler, idle-session reaper,
 * suspend recovery, pause escalation, autoscaler, preempter, workspace garbage collection).
 *
 * On SQLite there is one server process, so it always holds them (`ALWAYS_HELD`: no statement, no
 * timer). On PostgreSQL every replica tries for one lease row (src/store/repos/leases.ts) every
 * third of its time to live; the holder renews it, the others take it once its expiry (on the
 * database's clock) has passed. A lease row rather than an advisory lock: a lock lives as long as
 * its connection, so a holder cut off by the network (not killed) keeps it until TCP keepalive
 * notices, and it does not work through a transaction-pooling proxy; the row lapses after its time
 * to live however the holder died.
 *
 * The holder stops counting itself the holder a fifth of the time to live before the lease could
 * lapse, measured from when its last successful renewal was *sent*: a replica whose renewals fail or
 * stall (a cut network, a frozen process) stops its loops before another replica may start them.
 */
import { hostname } from 'node:os';
import { toError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import type { Store } from '../store/index.js';
import type { ServerContext } from './context.js';

/** Whether this replica runs the singleton loops now. */
export interface LoopGate {
  readonly held: boolean;
}

/** SQLite (one process): always the holder. */
export const ALWAYS_HELD: LoopGate = { held: true };

/** The lease's name in `loop_leases`. */
const LEASE = 'singleton-loops';

/** A name for this replica, unique per start: host, pid and a random part. */
export function replicaId(): string {
  return `${hostname()}:${process.pid}:${newId('rep')}`;
}

export class LoopLease implements LoopGate {
  /** `performance.now()` until which this replica counts itself the holder. */
  private validUntil = 0;
  private timer: NodeJS.Timeout | null = null;
  private ticking = false;
  private closed = false;

  constructor(
    private readonly ctx: Pick<ServerContext, 'log'> & { store: Pick<Store, 'leases'> },
    private readonly opts: {
      holder: string;
      ttlMs: number;
      /** Called each time this replica becomes the holder (after a start, or taking over). */
      onAcquired?: () => void;
    },
  ) {}

  get held(): boolean {
    return !this.closed && performance.now() < this.validUntil;
  }

  /** Tries once now, then keeps trying (or renewing) every third of the time to live. */
  async start(): Promise<void> {
    await this.tick();
    this.timer = setInterval(() => void this.tick(), Math.max(50, Math.floor(this.opts.ttlMs / 3)));
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (this.ticking || this.closed) return;
    this.ticking = true;
    const was = this.held;
    const sent = performance.now();
    try {
      const ok = await this.ctx.store.leases.acquire(LEASE, this.opts.holder, this.opts.ttlMs);
      if (this.closed) return;
      if (ok) {
        this.validUntil = sent + this.opts.ttlMs * 0.8;
        if (!was) {
          this.ctx.log.info({ holder: this.opts.holder }, 'this replica runs the singleton loops');
          this.opts.onAcquired?.();
        }
      } else {
        this.validUntil = 0;
        if (was) this.ctx.log.warn({ holder: this.opts.holder }, 'another replica took the singleton loops');
      }
    } catch (e: unknown) {
      // The lease lapses on its own (validUntil) if renewals keep failing.
      this.ctx.log.warn({ err: toError(e) }, 'renewing the singleton loop lease failed');
    } finally {
      this.ticking = false;
    }
  }

  /** Stops trying and gives the lease up, so another replica takes over at once. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const had = this.held;
    this.closed = true;
    if (had)
      await this.ctx.store.leases
        .release(LEASE, this.opts.holder)
        .catch((e: unknown) => this.ctx.log.warn({ err: toError(e) }, 'releasing the singleton loop lease failed'));
  }
}
