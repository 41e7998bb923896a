/**
 * @module The store's change log: which sessions, tasks and runners were written since the
 * assigner last looked (its own module, so the repositories that note writes and the store that
 * groups them do not import each other). With several replicas on PostgreSQL it also hands each
 * note to a publisher (src/store/change-feed.ts) once the write is committed, so the other
 * replicas' views learn of it.
 */

export type ChangeKind = 'session' | 'task' | 'runner';

/** Where committed notes go to reach the other replicas (PostgreSQL); none on SQLite. */
export interface ChangePublisher {
  note(kind: ChangeKind, id: string): void;
}

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

  constructor(private readonly publisher: ChangePublisher | null = null) {}

  session(id: string): void {
    this.note('session', id);
  }

  task(id: string): void {
    this.note('task', id);
  }

  /** A runner's state, binding, labels or draining flag was written (lease renewals are not noted). */
  runner(id: string): void {
    this.note('runner', id);
  }

  protected note(kind: ChangeKind, id: string): void {
    this.local(kind, id);
    // Outside a transaction the statement has committed by its "after" note (see TransactionChanges).
    this.publisher?.note(kind, id);
  }

  /** Notes a change for this replica's readers only (one another replica published, or a transaction's). */
  local(kind: ChangeKind, id: string): void {
    if (kind === 'session') this.sessions.add(id);
    else if (kind === 'task') this.tasks.add(id);
    else this.runners.add(id);
  }

  /** Hands a committed change to the publisher. */
  publish(kind: ChangeKind, id: string): void {
    this.publisher?.note(kind, id);
  }

  /** Whether notes are published to other replicas (PostgreSQL). */
  get publishing(): boolean {
    return this.publisher !== null;
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

/**
 * The change log as one transaction's repos see it: each note reaches this replica's log at once
 * (as before), and is published only once the transaction has committed (`committed()`), so
 * another replica reading the row never reads it from before the write.
 */
export class TransactionChanges extends ChangeLog {
  private readonly held: [ChangeKind, string][] = [];

  constructor(private readonly log: ChangeLog) {
    super(null);
  }

  protected override note(kind: ChangeKind, id: string): void {
    this.log.local(kind, id);
    this.held.push([kind, id]);
  }

  committed(): void {
    for (const [kind, id] of this.held) this.log.publish(kind, id);
    this.held.length = 0;
  }
}

/** What ChangeLog.take returns. */
export interface Changes {
  sessions: Set<string>;
  tasks: Set<string>;
  runners: Set<string>;
}
