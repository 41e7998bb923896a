/**
 * @module The reading half of the cross-replica change feed (PostgreSQL; the writing half is
 * src/store/change-feed.ts). Each replica LISTENs on a dedicated connection (reconnected after any
 * failure) and, on each notify and on a one-second timer regardless, reads the `change_feed` rows
 * after the last one it handled. What another replica wrote then feeds this replica's in-memory
 * views exactly as its own writes do: the ids go to the ChangeLog (the assigner reads them again),
 * the rows are read and emitted on the event bus (API event streams, `--wait`, follow tails, the
 * workspace reaper), log ranges are read and emitted as `task:logs`, and a task another replica
 * assigned (or cancelled) to a runner whose connection this replica holds is sent to it here.
 *
 * Sequence numbers come from a sequence, so a row can commit after a higher one: a gap below the
 * highest row seen is read again until it fills, or until GAP_MS has passed (its transaction rolled
 * back). The assigner's periodic full reload bounds whatever could still be missed.
 */
import { sql } from 'kysely';
import { toError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { CHANGE_CHANNEL, type FeedBody } from '../store/change-feed.js';
import type { Task } from '../store/records.js';
import type { ServerContext } from './context.js';
import type { GatewayLinks } from './runner-links.js';

/** How long a hole in the sequence is waited for before it is taken as a rolled-back write. */
const GAP_MS = 10_000;
/** Read the feed this often even without a notify. */
const POLL_MS = 1_000;
/** Rows per read. */
const PAGE = 500;
/** At most this many task ids remembered as delivered here (cleared past it). */
const DELIVERED_MAX = 50_000;

type PgClient = import('pg').Client;

export interface ChangeFeedDeps {
  links: Pick<GatewayLinks, 'isConnected' | 'send'>;
  /** Asks for an assigner pass. */
  kick(): void;
  /** Pools, cards or profiles changed on another replica: read the catalog again. */
  catalogChanged(): void;
  /** Sends a task's assignment to its runner (connected here). */
  sendAssignment(task: Task): Promise<boolean>;
}

export class ChangeFeedReader {
  private client: PgClient | null = null;
  private cursor = 0;
  private readonly seen = new Set<number>();
  private readonly gapSince = new Map<number, number>();
  private readonly delivered = new Set<string>();
  private readonly stopped = new Set<string>();
  private reading: Promise<void> | null = null;
  private again = false;
  private timer: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private closed = false;
  /** Set while events read from the feed are emitted, so they are not published back. */
  private applying = false;
  private offLogs: (() => void) | null = null;

  constructor(
    private readonly ctx: ServerContext,
    private readonly databaseUrl: string,
    private readonly deps: ChangeFeedDeps,
  ) {}

  async start(): Promise<void> {
    const feed = this.ctx.store.feed;
    if (!feed) return;
    // This replica's stored log lines are published for the others' follow tails.
    this.offLogs = this.ctx.bus.on('task:logs', ({ taskId, sessionId, lines }) => {
      if (this.applying || lines.length === 0) return;
      feed.logLines(taskId, sessionId, lines[0]!.seq, lines[lines.length - 1]!.seq);
    });
    const r = await sql<{ seq: number | null }>`select max(seq) as seq from change_feed`.execute(this.ctx.store.db);
    this.cursor = Number(r.rows[0]?.seq ?? 0);
    await this.connect();
    this.timer = setInterval(() => this.read(), POLL_MS);
    this.timer.unref();
  }

  /** Opens the LISTEN connection; on failure or loss, tries again after a second. */
  private async connect(): Promise<void> {
    if (this.closed) return;
    const pg = await import('pg');
    const client = new pg.default.Client({ connectionString: this.databaseUrl, keepAlive: true });
    const retry = (e: unknown) => {
      if (this.closed || this.client !== client) return;
      this.client = null;
      this.ctx.log.warn({ err: toError(e) }, 'change feed connection lost; reconnecting');
      client.end().catch(() => {});
      this.reconnectTimer = setTimeout(() => void this.connect(), 1_000);
      this.reconnectTimer.unref();
    };
    client.on('error', retry);
    client.on('end', () => retry(new Error('connection ended')));
    client.on('notification', () => this.read());
    this.client = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGE_CHANNEL}`);
    } catch (e: unknown) {
      retry(e);
      return;
    }
    // Whatever was written while not listening.
    this.read();
  }

  /** Reads the feed (coalesced: one read at a time, another after it if asked meanwhile). */
  read(): void {
    if (this.closed) return;
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = (async () => {
      do {
        this.again = false;
        try {
          while (await this.page()) {}
        } catch (e: unknown) {
          this.ctx.log.warn({ err: toError(e) }, 'reading the change feed failed');
        }
      } while (this.again && !this.closed);
      this.reading = null;
    })();
  }

  /** One page of rows after the cursor; true when there may be more. */
  private async page(): Promise<boolean> {
    const { store } = this.ctx;
    const r = await sql<{ seq: number; replica: string; body: string }>`
      select seq, replica, body from change_feed where seq > ${this.cursor} order by seq limit ${PAGE}`.execute(
      store.db,
    );
    const me = store.feed?.replica;
    const bodies: FeedBody[] = [];
    for (const row of r.rows) {
      const seq = Number(row.seq);
      if (this.seen.has(seq)) continue;
      this.seen.add(seq);
      if (row.replica !== me) bodies.push(JSON.parse(row.body) as FeedBody);
    }
    if (bodies.length) await this.apply(bodies);
    this.advance();
    return r.rows.length === PAGE;
  }

  /** Moves the cursor over every handled row, up to a hole not yet given up on. */
  private advance(): void {
    const now = Date.now();
    let max = this.cursor;
    for (const s of this.seen) if (s > max) max = s;
    while (this.cursor < max) {
      const next = this.cursor + 1;
      if (this.seen.delete(next)) {
        this.gapSince.delete(next);
        this.cursor = next;
        continue;
      }
      const since = this.gapSince.get(next) ?? now;
      this.gapSince.set(next, since);
      if (now - since < GAP_MS) break;
      this.gapSince.delete(next);
      this.cursor = next;
    }
  }

  /** Feeds what other replicas wrote into this replica's views. */
  private async apply(bodies: FeedBody[]): Promise<void> {
    const { store, bus } = this.ctx;
    const sessions = new Set<string>();
    const tasks = new Set<string>();
    const runners = new Set<string>();
    const logs = new Map<string, [string, string, number, number]>();
    if (bodies.some((b) => b.c)) this.deps.catalogChanged();
    for (const b of bodies) {
      for (const id of b.s ?? []) sessions.add(id);
      for (const id of b.t ?? []) tasks.add(id);
      for (const id of b.r ?? []) runners.add(id);
      for (const l of b.l ?? []) {
        const had = logs.get(l[0]);
        logs.set(l[0], had ? [l[0], l[1], Math.min(had[2], l[2]), Math.max(had[3], l[3])] : l);
      }
    }
    for (const id of sessions) store.changes.local('session', id);
    for (const id of tasks) store.changes.local('task', id);
    for (const id of runners) store.changes.local('runner', id);
    if (sessions.size || tasks.size || runners.size) this.deps.kick();
    const emit = (fn: () => void) => {
      this.applying = true;
      try {
        fn();
      } finally {
        this.applying = false;
      }
    };
    for (const [taskId, sessionId, from, to] of logs.values()) {
      const lines = await store.logs.range(taskId, from, to);
      if (lines.length) emit(() => bus.emit('task:logs', { taskId, sessionId, lines }));
    }
    for (const id of tasks) {
      const task = await store.tasks.get(id);
      if (!task) continue;
      emit(() => bus.emit('task:updated', { task }));
      await this.toRunner(task);
    }
    for (const id of sessions) {
      const session = await store.sessions.get(id);
      if (session) emit(() => bus.emit('session:updated', { session }));
    }
    for (const id of runners) {
      const runner = await store.runners.get(id);
      if (runner) emit(() => bus.emit('runner:updated', { runner }));
    }
  }

  /** A task another replica assigned, cancelled or ended, whose runner is connected here. */
  private async toRunner(task: Task): Promise<void> {
    const runnerId = task.runnerId;
    if (!runnerId || !this.deps.links.isConnected(runnerId)) return;
    const once = (set: Set<string>) => {
      if (set.has(task.id)) return false;
      if (set.size >= DELIVERED_MAX) set.clear();
      set.add(task.id);
      return true;
    };
    if (task.state === 'assigned' && !task.cancelRequested && once(this.delivered)) {
      await this.deps.sendAssignment(task);
      return;
    }
    if ((task.state === 'assigned' || task.state === 'running') && task.cancelRequested && once(this.stopped)) {
      this.deps.links.send(runnerId, { type: 'task.cancel', ref: newId('cmd'), taskId: task.id });
      return;
    }
    if ((task.state === 'cancelled' || task.state === 'timed_out') && once(this.stopped))
      this.deps.links.send(runnerId, { type: 'task.stop', ref: newId('cmd'), taskId: task.id });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.offLogs?.();
    if (this.timer) clearInterval(this.timer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const c = this.client;
    this.client = null;
    await c?.end().catch(() => {});
    await this.reading;
  }
}
