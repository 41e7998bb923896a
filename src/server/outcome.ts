/**
 * @module A finished task's end state and error, decided from the runner's report and what the
 * agent itself reported (its outcome, read from its JSON events on the runner): a task succeeds
 * only when the process exited 0 and the agent reported success with no permission denied; a
 * failure carries the agent's own message (`Invalid API key`, `Unable to connect to API`), not
 * just an exit code; a task killed at its timeout is `timed_out`.
 */
import type { TaskState } from '../core/types.js';
import type { AgentOutcome } from '../protocol/messages.js';

export interface FinishReport {
  exitCode: number | null;
  signal: string | null;
  error: string | null;
  cancelled: boolean;
  timedOut: boolean;
  outcome: AgentOutcome | null;
}

export interface TaskEnd {
  state: Extract<TaskState, 'succeeded' | 'failed' | 'cancelled' | 'timed_out'>;
  error: string | null;
}

function exitText(r: FinishReport): string {
  return r.signal ? `killed by ${r.signal}` : `exit code ${r.exitCode}`;
}

function denials(o: AgentOutcome): string {
  const list = o.permissionDenials.map((d) => (d.detail ? `${d.tool} (${d.detail})` : d.tool));
  return `the agent was denied permission: ${list.join('; ')}`;
}

/** Decides how a task ended. */
export function decideTaskEnd(r: FinishReport, cancelRequested: boolean): TaskEnd {
  if (r.cancelled || cancelRequested) return { state: 'cancelled', error: 'cancelled by request' };
  const o = r.outcome;
  if (r.timedOut)
    return {
      state: 'timed_out',
      error: `${r.error ?? 'timed out'} and killed${o?.error ? `; the agent's last message: ${o.error}` : ''}`,
    };
  if (r.error) return { state: 'failed', error: r.error };
  if (!o) return r.exitCode === 0 ? { state: 'succeeded', error: null } : { state: 'failed', error: exitText(r) };
  if (o.permissionDenials.length) return { state: 'failed', error: denials(o) };
  if (o.status === 'failed')
    return { state: 'failed', error: o.error ?? `the agent reported a failure (${exitText(r)})` };
  if (o.status === 'unknown')
    return {
      state: 'failed',
      error: o.error ?? `the agent ended without reporting a result (${exitText(r)})`,
    };
  if (r.exitCode !== 0) return { state: 'failed', error: `${exitText(r)} after the agent reported success` };
  return { state: 'succeeded', error: null };
}
