/**
 * @module The steps of a suspend and of a resume, per strategy, as tables.
 *
 * A suspend or resume writes its intent to the session (`suspend.op`: kind, strategy, the runner,
 * the state it came from, the last step done) before its first side effect, and records each step
 * once it is done. A server killed in the middle leaves that record behind; the next server reads
 * it and finishes an interrupted suspend from the step after the last one recorded (every step is
 * idempotent, so a step that ran but was not recorded runs again harmlessly), and undoes an
 * interrupted resume (back to `suspended`, the kept storage untouched). See docs/architecture.md.
 *
 * | strategy | suspend steps (after `begun`) | resume steps (after `begun`) |
 * |---|---|---|
 * | `pause` | `marked` (runner row `paused`), `frozen` (sandbox paused) | `thawed` (sandbox unpaused) |
 * | `terminate_preserve_storage` | `stored` (workspace snapshot in the store), `marked` (runner `suspended`), `stopped` (sandbox removed, storage kept), `released` (runner `terminated`) | `provisioned` (a runner on the kept storage) |
 * | `snapshot` | `marked`, `snapshotted` (committed and removed), `released` | `provisioned` |
 * | `terminate` | `released` (runner and storage gone) | none |
 * | `release_to_pool` | `stored` (workspace snapshot in the store), `released` (runner back to its pool, unbound) | none |
 *
 * `stored` snapshots the workspace into the content-addressable store (src/server/workspace-snapshots.ts),
 * so a resume restores it on whichever runner, on whichever provider, the scheduler picks. For
 * `release_to_pool` the store is the only copy that outlives the runner: a failed snapshot fails
 * the suspend (the session stays where it was, with the reason). For `terminate_preserve_storage`
 * the provider keeps the storage natively (the fast path), so a failed snapshot is recorded as an
 * event and the suspend goes on.
 */

export type StepStrategy = 'pause' | 'snapshot' | 'terminate_preserve_storage' | 'release_to_pool' | 'terminate';
export type SuspendOpKind = 'suspend' | 'resume';

export const SUSPEND_STEPS = {
  pause: ['begun', 'marked', 'frozen'],
  terminate_preserve_storage: ['begun', 'stored', 'marked', 'stopped', 'released'],
  snapshot: ['begun', 'marked', 'snapshotted', 'released'],
  terminate: ['begun', 'released'],
  release_to_pool: ['begun', 'stored', 'released'],
} as const satisfies Record<StepStrategy, readonly string[]>;

export const RESUME_STEPS = {
  pause: ['begun', 'thawed'],
  terminate_preserve_storage: ['begun', 'provisioned'],
  snapshot: ['begun', 'provisioned'],
  terminate: ['begun'],
  release_to_pool: ['begun'],
} as const satisfies Record<StepStrategy, readonly string[]>;

export type SuspendStep = (typeof SUSPEND_STEPS)[StepStrategy][number];
export type ResumeStep = (typeof RESUME_STEPS)[StepStrategy][number];

/** Whether `done` (the last step recorded) is at or past `step` in `strategy`'s suspend. */
export function suspendStepDone(strategy: StepStrategy, done: string, step: SuspendStep): boolean {
  const steps: readonly string[] = SUSPEND_STEPS[strategy];
  const at = steps.indexOf(done);
  const want = steps.indexOf(step);
  return want >= 0 && at >= want;
}

/**
 * Every crash point a test may name in `MARIONETTE_FAULT` (test-only; docs/config.md):
 * `<suspend|resume>:<strategy>:<step>`. The server kills itself with SIGKILL right after that
 * step's side effect, before the store records the step (`begun`: right after the intent is
 * written, before any side effect).
 *
 * @example
 * FAULT_POINTS.includes('suspend:terminate_preserve_storage:stopped') // true
 */
export const FAULT_POINTS: readonly string[] = [
  // A task's report: read but not yet committed, and committed but not yet acknowledged.
  'task:finished:received',
  'task:finished:committed',
  ...Object.entries(SUSPEND_STEPS).flatMap(([s, steps]) => steps.map((st) => `suspend:${s}:${st}`)),
  ...Object.entries(RESUME_STEPS).flatMap(([s, steps]) => steps.map((st) => `resume:${s}:${st}`)),
];
