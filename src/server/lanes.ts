/**
 * @module Per-connection flow control on the runner gateway: liveness never waits behind data.
 *
 * Where a runner's frames go:
 *
 * | frame | where | why |
 * |---|---|---|
 * | `heartbeat` (after hello) | handled at once | the lease must be renewed however many log batches wait |
 * | `logs` (after hello) | the data lane: bounded, one batch at a time, in order | lines are stored in arrival order; when `maxQueued` batches wait, the socket is paused (the runner's TCP window fills and its agent stops reading the task's pipes) and resumed when the lane is down to `resumeAt` |
 * | `task.finished`, connection close | the control lane, after the data lane's batches that arrived before it | a task's end is recorded only once its earlier lines are stored |
 * | everything else (`hello`, `task.started`, `ack`) | the control lane, in order | |
 *
 * The control lane never waits for the data lane except for the two entries above.
 */

export interface LaneSocket {
  pause(): void;
  resume(): void;
}

export class FrameLanes {
  private control: Promise<void> = Promise.resolve();
  private data: Promise<void> = Promise.resolve();
  private queued = 0;
  private paused = false;

  constructor(
    private readonly socket: LaneSocket,
    private readonly maxQueued = 4,
    private readonly resumeAt = 1,
  ) {}

  /** Log batches waiting or being stored. */
  get dataQueued(): number {
    return this.queued;
  }

  /** Whether the socket is paused because the data lane is full. */
  get isPaused(): boolean {
    return this.paused;
  }

  /** Runs `fn` on the control lane, after the control frames before it. */
  enqueueControl(fn: () => Promise<void>): void {
    this.control = this.control.then(fn, fn);
  }

  /** Runs `fn` on the control lane once the log batches that arrived before it are stored. */
  enqueueAfterData(fn: () => Promise<void>): void {
    const tail = this.data;
    this.enqueueControl(async () => {
      await tail;
      await fn();
    });
  }

  /** Runs `fn` on the data lane; pauses the socket while the lane is full. */
  enqueueData(fn: () => Promise<void>): void {
    this.queued++;
    if (!this.paused && this.queued >= this.maxQueued) {
      this.paused = true;
      this.socket.pause();
    }
    const step = async () => {
      try {
        await fn();
      } finally {
        this.queued--;
        if (this.paused && this.queued <= this.resumeAt) {
          this.paused = false;
          this.socket.resume();
        }
      }
    };
    this.data = this.data.then(step, step);
  }
}
