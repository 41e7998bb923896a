/**
 * @module State machines for sessions, tasks and runners, written as tables.
 *
 * Session: `pending → scheduling → provisioning → active ⇄ idle → suspending → suspended →
 * resuming → active …` (a failed suspend goes back to `active | idle`, a failed resume back to
 * `suspended`), ending in `completed | failed | cancelled | terminated`. A session that
 * cannot be placed stays `scheduling` with its per-pool verdicts recorded. `suspending →
 * suspending` and `resuming → resuming` record a step done (src/core/suspend-steps.ts);
 * `suspended → suspending` is a pause escalated past its `max_duration`. `scheduling → idle` and
 * `provisioning → idle`: a session placed (or its managed runner up) with no task to run waits on
 * its runner. Self-edges rewrite a state's fields without leaving it: `active → active` (a task
 * claimed for a session already active), `idle → idle` (a lost runner let go of an idle session),
 * `suspended → suspended` (a preemption records its reason).
 *
 * Task: `queued → assigned → running → succeeded | failed | cancelled | timed_out | lost`. A task
 * whose runner vanished is `lost`; the retry policy queues a new attempt as a new task row
 * (`retry_of`), so a terminal state is never left. `cancelled` is never re-run. A runner may report
 * a task's end (any of them, `timed_out` included) before its `task.started` was written.
 *
 * Runner: `provisioning → connecting → idle ⇄ busy → draining → offline → terminated`, plus
 * `paused` / `suspended` for the suspend strategies. `offline` may come back to `idle` if the
 * runner reconnects before it is terminated. `draining → draining`: a draining runner finishing
 * its task is unbound and stays draining.
 *
 * The store applies each transition as one compare-and-set write guarded by the states listed
 * here (src/store/transition.ts): asking for an edge not in the table is an error
 * (IllegalTransition), so a transition not in the table can never be written.
 */
import type { RunnerState, SessionState, TaskState } from './types.js';

/** A state machine as a table: each state and the states it may move to. */
export type StateTable<S extends string> = Readonly<Record<S, readonly S[]>>;
type Table<S extends string> = StateTable<S>;

export const SESSION_TRANSITIONS: Table<SessionState> = {
  pending: ['scheduling', 'failed', 'cancelled'],
  scheduling: ['scheduling', 'provisioning', 'active', 'idle', 'failed', 'cancelled'],
  provisioning: ['active', 'idle', 'scheduling', 'failed', 'cancelled', 'terminated'],
  active: ['active', 'idle', 'suspending', 'scheduling', 'completed', 'failed', 'cancelled', 'terminated'],
  idle: ['active', 'idle', 'suspending', 'scheduling', 'completed', 'failed', 'cancelled', 'terminated'],
  suspending: ['suspending', 'suspended', 'active', 'idle', 'failed', 'cancelled', 'terminated'],
  suspended: ['resuming', 'suspending', 'suspended', 'cancelled', 'terminated', 'completed'],
  resuming: [
    'resuming',
    'active',
    'idle',
    'scheduling',
    'provisioning',
    'suspended',
    'failed',
    'cancelled',
    'terminated',
  ],
  completed: [],
  failed: [],
  cancelled: [],
  terminated: [],
};

export const TASK_TRANSITIONS: Table<TaskState> = {
  queued: ['assigned', 'cancelled', 'failed'],
  assigned: ['running', 'queued', 'succeeded', 'failed', 'cancelled', 'timed_out', 'lost'],
  running: ['succeeded', 'failed', 'cancelled', 'timed_out', 'lost'],
  succeeded: [],
  failed: [],
  cancelled: [],
  timed_out: [],
  lost: [],
};

export const RUNNER_TRANSITIONS: Table<RunnerState> = {
  provisioning: ['connecting', 'idle', 'offline', 'terminated'],
  connecting: ['idle', 'busy', 'offline', 'terminated'],
  idle: ['busy', 'draining', 'paused', 'suspended', 'offline', 'terminated'],
  busy: ['idle', 'draining', 'paused', 'offline', 'terminated'],
  draining: ['draining', 'offline', 'terminated', 'busy', 'idle'],
  paused: ['idle', 'busy', 'suspended', 'offline', 'terminated'],
  suspended: ['idle', 'connecting', 'offline', 'terminated'],
  offline: ['idle', 'busy', 'connecting', 'terminated'],
  terminated: [],
};

/** Every state of each machine, in table order (what the API's `state` filters accept). */
export const SESSION_STATES = Object.keys(SESSION_TRANSITIONS) as readonly SessionState[];
export const TASK_STATES = Object.keys(TASK_TRANSITIONS) as readonly TaskState[];
export const RUNNER_STATES = Object.keys(RUNNER_TRANSITIONS) as readonly RunnerState[];

/** The terminal states: those the table leaves no edge from (the one list of them). */
function terminal<S extends string>(table: Table<S>): readonly S[] {
  return (Object.keys(table) as S[]).filter((s) => table[s].length === 0);
}
export const SESSION_TERMINAL: readonly SessionState[] = terminal(SESSION_TRANSITIONS);
export const TASK_TERMINAL: readonly TaskState[] = terminal(TASK_TRANSITIONS);
export const RUNNER_LIVE: readonly RunnerState[] = ['provisioning', 'connecting', 'idle', 'busy', 'draining', 'paused'];

/**
 * Runners whose sandbox may still exist: the live ones and a `suspended` one (a suspend strategy
 * marks the runner before it stops the sandbox, and releases it after). What `max_runners` bounds.
 */
export const RUNNER_HOLDS_SANDBOX: readonly RunnerState[] = [...RUNNER_LIVE, 'suspended'];

/** The states from which `to` may be entered, per the table. */
export function fromStates<S extends string>(table: Table<S>, to: S): S[] {
  return (Object.keys(table) as S[]).filter((from) => table[from].includes(to));
}

export function canTransition<S extends string>(table: Table<S>, from: S, to: S): boolean {
  return table[from].includes(to);
}

export function isTerminalTask(s: TaskState): boolean {
  return TASK_TERMINAL.includes(s);
}

export function isTerminalSession(s: SessionState): boolean {
  return SESSION_TERMINAL.includes(s);
}
