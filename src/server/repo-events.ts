/**
 * @module A runner's `repo.ready`: the session's repository is cloned and checked out; its base
 * commit is recorded as the session's `repo_cloned` event (what `mctl sessions diff` compares
 * against). Only the runner running one of the session's tasks may say so.
 */
import type { RunnerMessage } from '../protocol/messages.js';
import type { ServerContext } from './context.js';

export async function recordRepoReady(
  ctx: ServerContext,
  runnerId: string,
  msg: Extract<RunnerMessage, { type: 'repo.ready' }>,
): Promise<void> {
  const task = await ctx.store.tasks.get(msg.taskId);
  if (!task || task.sessionId !== msg.sessionId || task.runnerId !== runnerId) {
    ctx.log.warn({ runnerId, taskId: msg.taskId }, 'repo.ready for a task this runner does not run: ignored');
    return;
  }
  await ctx.store.sessions.addEvent(task.sessionId, task.orgId, 'repo_cloned', {
    baseCommit: msg.baseCommit,
    ref: msg.ref,
  });
}
