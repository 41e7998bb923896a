/**
 * @module The publishing half of the cross-replica change feed (PostgreSQL, migration 018).
 *
 * Every committed write to sessions, tasks and runners (noted by the repositories in the ChangeLog)
 * and every batch of stored log lines is gathered for the turn of the event loop, then written as
 * one `change_feed` row (a JSON body of ids) whose sequence number is sent with `NOTIFY` in the same
 * statement. The notify carries only the number (a few bytes, far under PostgreSQL's 8,000-byte
 * payload limit); readers (src/server/change-feed.ts) read the rows after the last one they saw, so
 * a notify that never arrives costs latency, not data.
 */
import { type Kysely, sql } from 'kysely';
import { toError } from '../core/errors.js';
import type { ChangeKind, ChangePublisher } from './changes.js';
import type { Database } from './schema.js';

/** The NOTIFY channel (per database: replicas of one install share it). */
export const CHANGE_CHANNEL = 'marionette_changes';

/** One `change_feed` row's body: ids by kind, and log ranges `[taskId, sessionId, fromSeq, toSeq]`. */
export interface FeedBody {
  s?: string[];
  t?: string[];
  r?: string[];
  l?: [string, string, number, number][];
  /** Pools, agent cards or profiles changed: the catalog is read again. */
  c?: 1;
}

export class ChangeFeedPublisher implements ChangePublisher {
  private sessions = new Set<string>();
  private tasks = new Set<string>();
  private runners = new Set<string>();
  private logs = new Map<string, [string, string, number, number]>();
  private catalog = false;
  private scheduled = false;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Kysely<Database>,
    /** This replica's name: readers skip their own rows. */
    readonly replica: string,
    private readonly onError: (e: Error) => void,
  ) {}

  note(kind: ChangeKind, id: string): void {
    if (kind === 'session') this.sessions.add(id);
    else if (kind === 'task') this.tasks.add(id);
    else this.runners.add(id);
    this.schedule();
  }

  /** Pools, agent cards or profiles were written. */
  catalogChanged(): void {
    this.catalog = true;
    this.schedule();
  }

  /** Lines `from..to` of a task were stored (and are contiguous). */
  logLines(taskId: string, sessionId: string, from: number, to: number): void {
    const had = this.logs.get(taskId);
    this.logs.set(
      taskId,
      had ? [taskId, sessionId, Math.min(had[2], from), Math.max(had[3], to)] : [taskId, sessionId, from, to],
    );
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.chain = this.chain.then(() => this.flush());
    });
  }

  /** Writes what was gathered as one row and notifies its sequence number. */
  private async flush(): Promise<void> {
    const body: FeedBody = {};
    if (this.sessions.size) body.s = [...this.sessions];
    if (this.tasks.size) body.t = [...this.tasks];
    if (this.runners.size) body.r = [...this.runners];
    if (this.logs.size) body.l = [...this.logs.values()];
    if (this.catalog) body.c = 1;
    this.catalog = false;
    this.sessions = new Set();
    this.tasks = new Set();
    this.runners = new Set();
    this.logs = new Map();
    if (!body.s && !body.t && !body.r && !body.l && !body.c) return;
    try {
      await sql`with ins as (insert into change_feed (replica, body) values (${this.replica}, ${JSON.stringify(body)}) returning seq)
        select pg_notify(${CHANGE_CHANNEL}, (select seq from ins)::text)`.execute(this.db);
    } catch (e: unknown) {
      // The other replicas miss this batch until their full reload (every few seconds).
      this.onError(toError(e));
    }
  }

  /** Deletes rows older than `ms` (every replica has long read them); run by the singleton loops. */
  async trim(ms: number): Promise<void> {
    await sql`delete from change_feed where at < clock_timestamp() - ${`${ms} milliseconds`}::interval`.execute(
      this.db,
    );
  }

  /** Resolves once everything gathered so far is written. */
  async settled(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    await this.chain;
  }
}
