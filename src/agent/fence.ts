/**
 * @module The agent's self-fencing: a runner that cannot show the server it is alive kills its own
 * task before the server gives up on it, so a retry elsewhere never runs beside it.
 *
 * The server renews a runner's lease on `hello` and on every `heartbeat`, and answers each renewal
 * with a `lease` frame carrying the lease's length. The renewal happened after the agent sent the
 * frame, so the lease runs at least until *send time + leaseMs*: the agent keeps the send times of
 * the frames not yet answered (answers come in order) and takes the oldest one's when an answer
 * arrives. When nothing was confirmed for `leaseMs - margin` (the server unreachable, stopped, or
 * too slow to renew), `onExpire` runs once: the agent SIGKILLs the task's process group and
 * forgets the task, whose retry is then the server's business. The margin is a fifth of the
 * lease, between 200 ms and 5 s (6 s → 5 s for the default 30 s lease), and covers killing the
 * group; the server's expiry only comes later (its reaper runs every lease/4, at most 1 s).
 *
 * Time is measured on both the monotonic and the wall clock and the larger elapsed time counts,
 * so a machine that slept (the monotonic clock stands still) fences as soon as it wakes. An agent
 * that is frozen itself (SIGSTOP, a paused VM) cannot fence; the server's side covers it where it
 * can (the `local` provider kills the runner's processes when its lease expires, docker removes
 * the container). With a server that sends no `lease` frames (older), the fence stays off.
 */

import { killGroupNow } from './procs.js';

/** How long before the lease's end the agent fences (see the module doc). */
export function fenceMargin(leaseMs: number): number {
  return Math.min(5000, Math.max(200, Math.floor(leaseMs / 5)));
}

/** Frames kept waiting for an answer, at most (a server that never answers must not grow this). */
const MAX_PENDING = 64;

interface Instant {
  mono: number;
  wall: number;
}

export class LeaseFence {
  private pending: Instant[] = [];
  private confirmed: Instant | null = null;
  private leaseMs: number | null = null;
  private fired = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    /** Runs once per lapse: nothing was confirmed for longer than the lease allows. */
    private readonly onExpire: (silentMs: number) => void,
    private readonly clock: () => Instant = () => ({ mono: performance.now(), wall: Date.now() }),
  ) {}

  /** A lease-renewing frame (`hello`, `heartbeat`) was sent now. */
  sent(): void {
    if (this.pending.length >= MAX_PENDING) this.pending.shift();
    this.pending.push(this.clock());
  }

  /** The server answered the oldest unanswered renewal: the lease lasts `leaseMs` from that frame's sending. */
  renewed(leaseMs: number): void {
    const at = this.pending.shift() ?? this.clock();
    if (!this.confirmed || at.mono > this.confirmed.mono) this.confirmed = at;
    this.leaseMs = leaseMs;
    this.fired = false;
    this.arm();
  }

  /** The connection closed: frames sent on it will never be answered. */
  disconnected(): void {
    this.pending = [];
  }

  /** How long since the last confirmed renewal (the larger of the two clocks); null before the first. */
  silentMs(now = this.clock()): number | null {
    if (!this.confirmed) return null;
    return Math.max(now.mono - this.confirmed.mono, now.wall - this.confirmed.wall);
  }

  /** Whether the lease, as far as this runner can tell, is about to lapse (and `onExpire` should run). */
  lapsed(now = this.clock()): boolean {
    const silent = this.silentMs(now);
    return this.leaseMs !== null && silent !== null && silent >= this.leaseMs - fenceMargin(this.leaseMs);
  }

  /** Checks now; runs `onExpire` once per lapse. */
  check(): void {
    if (this.fired || !this.lapsed()) return;
    this.fired = true;
    this.onExpire(this.silentMs() ?? 0);
  }

  private arm(): void {
    if (this.timer || this.leaseMs === null) return;
    const every = Math.max(50, Math.min(1000, Math.floor(fenceMargin(this.leaseMs) / 4)));
    this.timer = setInterval(() => this.check(), every);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

/**
 * Stops a task attempt now: no further setup command starts (`kill`), and its current process
 * group gets SIGKILL at once; resolves when the group is gone (false if it outlived `ms`).
 */
export async function killAttempt(
  run: { readonly pgid: number | null; kill(graceMs?: number): void },
  ms = 5000,
): Promise<boolean> {
  const pgid = run.pgid;
  run.kill(0);
  return pgid === null ? true : killGroupNow(pgid, ms);
}
