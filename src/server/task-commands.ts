/**
 * @module Commands the session side sends to a task's runner: the task's assignment (rendered by
 * the task lifecycle), and a cancel with its fallback (when the runner cannot be reached, or does
 * not report the task's end in time, the task is cancelled here).
 */
import { toError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import type { Task } from '../store/records.js';
import type { ServerContext } from './context.js';
import { assignmentSandbox } from './pool-sandbox.js';
import type { RunnerControl } from './runner-control.js';
import type { AssignmentContext, TaskLifecycle } from './task-lifecycle.js';

/** How long a runner has to report a cancelled task's end before it is cancelled here. */
const CANCEL_FALLBACK_MS = 10_000;

export class TaskCommands {
  /** Pending cancel fallbacks: task id → timer. */
  private readonly cancelTimers = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly ctx: ServerContext,
    private readonly control: RunnerControl,
    private readonly lifecycle: TaskLifecycle,
  ) {}

  /**
   * Sends a task's assignment to its runner. `known` carries what the caller already holds: the
   * session, the agent card, and `claimed` (the task was queued until this claim, so it has no
   * log lines to resume after).
   */
  async sendAssignment(task: Task, known: AssignmentContext = {}): Promise<boolean> {
    const session = known.session ?? (await this.ctx.store.sessions.get(task.sessionId));
    if (!session || !task.runnerId) return false;
    const assignment = await this.lifecycle.buildAssignment(session, task, known);
    if (!assignment) return false;
    // A pool with sandbox_mode runner-creates-sandbox: the runner runs the task in the pool's nested sandbox.
    const pool = session.poolId ? await this.ctx.store.pools.byId(session.poolId) : null;
    const sandbox = assignmentSandbox(pool, session.request.egress, (refusal) =>
      this.ctx.log.warn(
        { sessionId: session.id, refusal },
        'egress policy widened since placement; the task gets no network',
      ),
    );
    const withLimits = {
      ...assignment,
      outputLimits: this.ctx.config.taskOutputLimits,
      ...(sandbox ? { sandbox } : {}),
    };
    return this.control.gateway.send(task.runnerId, { type: 'task.assign', task: withLimits });
  }

  /** Asks the runner to cancel; if it cannot be reached (or does not answer in time) the task is cancelled here. */
  async cancelRunningTask(task: Task): Promise<void> {
    await this.ctx.store.tasks.update(task.id, { cancel_requested: 1 });
    const gateway = this.control.gateway;
    const sent = task.runnerId
      ? gateway.send(task.runnerId, { type: 'task.cancel', ref: newId('cmd'), taskId: task.id })
      : false;
    const force = async () => {
      this.cancelTimers.delete(task.id);
      const ok = await this.ctx.store.tasks.transition(
        task.id,
        'cancelled',
        { error: 'cancelled by request', finished_at: Date.now() },
        ['assigned', 'running'],
      );
      if (ok) {
        const t = await this.ctx.store.tasks.get(task.id);
        if (t) {
          this.ctx.bus.emit('task:updated', { task: t });
          await this.lifecycle.taskFinished(t);
        }
        if (task.runnerId) {
          gateway.send(task.runnerId, { type: 'task.stop', ref: newId('cmd'), taskId: task.id });
          await this.ctx.store.runners.transition(task.runnerId, 'idle', {}, ['busy']);
        }
      }
    };
    if (!sent) return force();
    this.clearCancel(task.id);
    this.cancelTimers.set(
      task.id,
      setTimeout(
        () => void force().catch((e: unknown) => this.ctx.log.error({ err: toError(e) }, 'forced cancel failed')),
        CANCEL_FALLBACK_MS,
      ),
    );
  }

  /** Drops a task's cancel fallback (its runner reported the end). */
  clearCancel(taskId: string): void {
    const t = this.cancelTimers.get(taskId);
    if (t) clearTimeout(t);
    this.cancelTimers.delete(taskId);
  }

  /** Drops every pending cancel fallback (shutdown). */
  close(): void {
    for (const t of this.cancelTimers.values()) clearTimeout(t);
    this.cancelTimers.clear();
  }
}
