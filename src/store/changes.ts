/**
 * @module The store's change log: which sessions, tasks and runners were written since the
 * assigner last looked (its own module, so the repositories that note writes and the store that
 * groups them do not import each other).
 */

/**
 * Which sessions, tasks and runners were written since the last `take()`: every write to those
 * tables goes through their repos, which note the id here. The assigner reads only these between
 * full reads of the queue. A write in a transaction that rolls back is noted too (a reader just
 * reads that row again for nothing).
 *
 * Repos note an id before their write and again after it. A reader that takes the log and reads
 * while holding the connection (a transaction) sees every write that ran before: it was noted
 * before it ran. A write still waiting for the connection is noted again once it has run, so the
 * reader's next take has it.
 */
export class ChangeLog {
  private sessions = new Set<string>();
  private tasks = new Set<string>();
  private runners = new Set<string>();

  session(id: string): void {
    this.sessions.add(id);
  }

  task(id: string): void {
    this.tasks.add(id);
  }

  /** A runner's state, binding, labels or draining flag was written (lease renewals are not noted). */
  runner(id: string): void {
    this.runners.add(id);
  }

  /** The ids noted since the last call, and a fresh start. */
  take(): Changes {
    const out = { sessions: this.sessions, tasks: this.tasks, runners: this.runners };
    this.sessions = new Set();
    this.tasks = new Set();
    this.runners = new Set();
    return out;
  }
}

/** What ChangeLog.take returns. */
export interface Changes {
  sessions: Set<string>;
  tasks: Set<string>;
  runners: Set<string>;
}
