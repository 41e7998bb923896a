/**
 * @module Makes a task, not the agent, the OOM killer's choice. In a sandbox with a memory limit
 * the kernel kills the process with the highest badness (its memory plus `oom_score_adj` per
 * mille of the limit). The agent is usually the largest process, so a task that exhausts memory
 * (or fills a tmpfs, whose pages count too) would take the agent with it and the task would be
 * lost instead of failed. Raising a process's own score needs no privilege (lowering does), so
 * the agent raises each task's score to the maximum right after starting it; processes the task
 * starts inherit it. The one window: children the task forks before the write keep the agent's
 * score (the write follows `spawn` synchronously, before the task has run much).
 */
import { writeFileSync } from 'node:fs';

/** The score tasks get: the OOM killer picks a task process before the agent, whatever their sizes. */
export const TASK_OOM_SCORE_ADJ = 1000;

/** Raises `pid`'s oom_score_adj. Best effort: false where there is no /proc or it is refused. */
export function raiseOomScore(pid: number | undefined, adj = TASK_OOM_SCORE_ADJ): boolean {
  if (pid === undefined) return false;
  try {
    writeFileSync(`/proc/${pid}/oom_score_adj`, String(adj));
    return true;
  } catch {
    return false;
  }
}
