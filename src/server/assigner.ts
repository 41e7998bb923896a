/**
 * @module The assigner: binds queued tasks to idle runners and places sessions that have none.
 *
 * It runs as coalesced passes (`kick()`): any event that could unblock work (task queued, runner
 * idle, pool changed) asks for a pass; at most one runs at a time and another follows if more
 * were asked for meanwhile. Every binding is a compare-and-set claim in the store, so a pass
 * racing anything else cannot double-assign. The queue and the live runners are kept between
 * passes and brought up to date from the store's ChangeLog.
 */
import { assignableCapacity, hasCapacity } from '../core/capacity.js';
import { toError } from '../core/errors.js';
import { QueueOrder } from '../core/queue.js';
import { isTerminalSession } from '../core/states.js';
import type { Changes, Repos } from '../store/index.js';
import type { Session } from '../store/records.js';
import type { LiveRunner } from '../store/repos/runners.js';
import type { SessionPassView } from '../store/repos/sessions.js';
import type { QueuedTaskRef } from '../store/repos/tasks.js';
import type { ServerContext } from './context.js';
import { type PassSnapshot, type Placer, snapshotRunner } from './placement.js';
import type { RunnerControl } from './runner-control.js';
import type { InstallCatalog, SessionCatalog } from './session-catalog.js';
import { emitSession, emitTask } from './session-common.js';
import type { TaskCommands } from './task-commands.js';

/**
 * How often the assigner reads the whole queue and every live runner again instead of only what
 * changed (see `Assigner.queue` and `snapshot`): every write to sessions, tasks and runners
 * is noted, so this only bounds how long anything missed could go unseen.
 */
const QUEUE_RELOAD_MS = 5_000;

/** A session in the assigner's queue: its pass view and when its oldest queued task was created. */
type QueueEntry = SessionPassView & { first: number };

/** Builds a queue entry (always with the same fields in the same order: one object shape). */
function queueEntry(v: SessionPassView, first: Pick<QueuedTaskRef, 'createdAt'> | undefined): QueueEntry {
  return {
    id: v.id,
    state: v.state,
    runnerId: v.runnerId,
    poolId: v.poolId,
    stateReason: v.stateReason,
    priority: v.priority,
    createdAt: v.createdAt,
    first: first?.createdAt ?? Number.POSITIVE_INFINITY,
  };
}

/**
 * Everything a placement decision reads except runner states: the pools (by version), provider
 * health, the catalog, and the set of live runners (their labels never change). While the
 * snapshot has no assignable capacity, a waiting session's decision is a function of this key and
 * its own request, so a session evaluated under the same key keeps its recorded reason.
 */
function worldKey(snap: PassSnapshot, health: ReadonlyMap<string, string | null>): string {
  const parts: string[] = [];
  for (const p of snap.pools) parts.push(`${p.id}@${p.updatedAt}`);
  parts.push(
    '|',
    JSON.stringify([...health]),
    JSON.stringify(snap.catalog.cards),
    JSON.stringify(snap.catalog.profiles),
    '|',
  );
  for (const r of snap.live) parts.push(r.id);
  return parts.join(' ');
}

/**
 * What a waiting session was last told, under which world (see `worldKey`), and the pools that
 * were eligible but had no room (`candidates`). Everything else a decision reads is in the world
 * key, so while the key is the same and none of those pools has capacity, the decision could only
 * come out the same: the session is not evaluated again.
 */
interface WaitMemo {
  /** The world's version (see `Assigner.world`). */
  world: number;
  reason: string | null;
  poolId: string | null;
  candidates: string[];
}

export class Assigner {
  private passRunning = false;
  private passWanted = false;
  /** Waiting sessions whose decision need not be re-run while nothing it reads has changed. */
  private readonly waitMemo = new Map<string, WaitMemo>();
  /** The last pass's world key, and a number that changes whenever the key does (cheap to compare). */
  private world = { key: '', version: 0 };
  /**
   * The assigner's picture of the queue, kept between passes: sessions that are `scheduling` or
   * have a queued task (narrow views), and each one's oldest queued task. A pass brings it up to
   * date by reading again only the sessions and tasks written since the last pass (the store's
   * ChangeLog), so a pass costs what changed, not the length of the queue. It is read in full at
   * the first pass and again every QUEUE_RELOAD_MS, as a bound on any drift.
   */
  private readonly queue = new QueueOrder<QueueEntry>();
  private readonly firstQueued = new Map<string, QueuedTaskRef>();
  /**
   * Queued sessions whose standing is not settled: new or changed since they were last evaluated,
   * evaluated under an older world, or bound to a runner of their own. The rest wait with a
   * verdict in `waitMemo` that only capacity in one of their candidate pools could change, so once
   * no pool has any, a pass visits only these.
   */
  private readonly unsettled = new Set<string>();
  private queueReadAt = 0;
  /** Live runners as placement sees them, kept between passes (see `snapshot`). */
  private readonly live = new Map<string, LiveRunner>();
  private idle: Promise<void> = Promise.resolve();

  constructor(
    private readonly ctx: ServerContext,
    private readonly runners: RunnerControl,
    private readonly catalog: SessionCatalog,
    private readonly placer: Placer,
    private readonly commands: TaskCommands,
    /** Health of providers as last probed (`null` = reachable). */
    private readonly providerHealth: ReadonlyMap<string, string | null>,
  ) {}

  /** Asks for an assigner pass (coalesced). */
  kick(): void {
    this.passWanted = true;
    if (this.passRunning) return;
    this.passRunning = true;
    this.idle = (async () => {
      while (this.passWanted) {
        // Let I/O that is already waiting (finished tasks, new sessions) land first, so one pass
        // serves a burst of kicks instead of one pass each: a pass reads the whole queue.
        await new Promise<void>((resolve) => setImmediate(resolve));
        this.passWanted = false;
        try {
          await this.pass();
        } catch (e: unknown) {
          this.ctx.log.error({ err: toError(e) }, 'assigner pass failed');
        }
      }
      this.passRunning = false;
    })();
  }

  /** Resolves when no pass is running (for shutdown and tests). */
  async settled(): Promise<void> {
    await this.idle;
  }

  /**
   * Brings the assigner's picture of the queue (`queue`, `firstQueued`) up to date: in full when
   * `full` (the first pass, then every QUEUE_RELOAD_MS), otherwise by reading again only the
   * sessions written since the last pass and those whose tasks were (`changed`).
   */
  private async refreshQueue(tx: Repos, changed: Changes, full: boolean): Promise<void> {
    if (full) {
      const views = await tx.sessions.passViews({ states: ['scheduling'] });
      const queued = await tx.tasks.queuedRefs();
      this.firstQueued.clear();
      for (const t of queued) if (!this.firstQueued.has(t.sessionId)) this.firstQueued.set(t.sessionId, t);
      // Sessions waiting for a runner with no queued task still need placing; sessions in other
      // states are in the queue only while they have a queued task.
      const scheduling = new Set(views.map((v) => v.id));
      const others = [...this.firstQueued.keys()].filter((id) => !scheduling.has(id));
      views.push(...(await tx.sessions.passViews({ ids: others })));
      this.queue.reset(views.map((v) => queueEntry(v, this.firstQueued.get(v.id))));
      this.unsettled.clear();
      for (const v of views) this.unsettled.add(v.id);
      for (const id of this.waitMemo.keys()) if (!this.queue.has(id)) this.waitMemo.delete(id);
      return;
    }
    if (changed.sessions.size === 0 && changed.tasks.size === 0) return;
    const ids = changed.sessions;
    if (changed.tasks.size) for (const id of await tx.tasks.sessionIdsOf([...changed.tasks])) ids.add(id);
    const list = [...ids];
    const views = await tx.sessions.passViews({ ids: list });
    const queued = await tx.tasks.queuedRefsIn(list);
    for (const id of list) {
      this.queue.delete(id);
      this.firstQueued.delete(id);
      this.unsettled.delete(id);
    }
    for (const t of queued) if (!this.firstQueued.has(t.sessionId)) this.firstQueued.set(t.sessionId, t);
    for (const v of views)
      if (v.state === 'scheduling' || this.firstQueued.has(v.id)) {
        this.queue.set(queueEntry(v, this.firstQueued.get(v.id)));
        this.unsettled.add(v.id);
      }
    for (const id of list) if (!this.queue.has(id)) this.waitMemo.delete(id);
  }

  /**
   * Reads what placement looks at, once per assigner pass (see PassSnapshot). Live runners are kept
   * between passes like the queue: read in full now and then, otherwise only those written since
   * the last pass (`changed`, from the store's ChangeLog) are read again.
   */
  private async snapshot(
    tx: Repos,
    catalog: InstallCatalog,
    changed: ReadonlySet<string>,
    full: boolean,
  ): Promise<PassSnapshot> {
    if (full) {
      this.live.clear();
      for (const r of await tx.runners.liveViews()) this.live.set(r.id, r);
    } else if (changed.size) {
      const ids = [...changed];
      const fresh = new Map((await tx.runners.liveViewsByIds(ids)).map((r) => [r.id, r]));
      // A runner keeps its place in the order (set on an existing key), so the pick among idle
      // runners stays oldest first.
      for (const id of ids) {
        const r = fresh.get(id);
        if (r) this.live.set(id, r);
        else this.live.delete(id);
      }
    }
    return { catalog, pools: catalog.pools, live: [...this.live.values()], grouped: null, waits: [] };
  }

  /**
   * One assigner pass. Sessions are visited in queue order (`passOrder`), kept between passes and
   * brought up to date from what changed (`refreshQueue`). A pass keeps count, per pool, of the
   * capacity its snapshot has left (`assignableCapacity`). A waiting session that was already
   * evaluated under the same pools, catalog and runner set (`worldKey`), still carries the reason
   * it was given, and whose candidate pools all have no capacity left is not evaluated again: its
   * decision could only come out the same, so its recorded verdicts and reason stay right. Any
   * change to pools, provider health, the catalog or the set of live runners, or capacity in one
   * of its candidate pools, re-evaluates it. Once no pool has capacity the pass visits only the
   * sessions whose standing is not settled (`unsettled`), so a long queue of waiting sessions costs a
   * pass nothing per session.
   */
  private async pass(): Promise<void> {
    const { store } = this.ctx;
    // The pass works from narrow views of the queue (no JSON) and loads a session in full only
    // when it acts on it: under load most waiting sessions are skipped unread (see WaitMemo).
    // What was written since the last pass, taken and read again in one transaction. Repos note
    // an id before their write and again after it, and a write needs the connection this
    // transaction holds: every write that ran before these reads is in the set taken here (on
    // SQLite), and one that runs later is noted for the next pass. Now and then everything is read
    // again instead.
    const catalog = await this.catalog.view();
    const now = Date.now();
    const full = this.queueReadAt === 0 || now - this.queueReadAt >= QUEUE_RELOAD_MS;
    if (full) this.queueReadAt = now;
    // One read of pools, runners and catalog for the whole pass; claims stay compare-and-set, so a
    // stale entry only costs a failed claim and another pass.
    const snap = await store.transaction(async (tx) => {
      const changed = store.changes.take();
      await this.refreshQueue(tx, changed, full);
      return this.snapshot(tx, catalog, changed.runners, full);
    });
    const firstQueued = this.firstQueued;
    const liveById = new Map(snap.live.map((r) => [r.id, r]));
    const withActiveTask = firstQueued.size ? await store.tasks.sessionsWithActiveTask() : new Set<string>();
    const key = worldKey(snap, this.providerHealth);
    if (key !== this.world.key) {
      this.world = { key, version: this.world.version + 1 };
      for (const e of this.queue.ordered()) this.unsettled.add(e.id);
    }
    const world = this.world.version;
    let capacity = assignableCapacity(snap);
    let anyCapacity = hasCapacity(capacity);
    const placed = () => {
      capacity = assignableCapacity(snap);
      anyCapacity = hasCapacity(capacity);
    };
    /** Places an unbound session; `v` carries the state and runner the pass just gave it. */
    const placeUnbound = async (v: SessionPassView, task: QueuedTaskRef | null): Promise<void> => {
      const m = this.waitMemo.get(v.id);
      if (
        m &&
        m.world === world &&
        m.reason === v.stateReason &&
        m.poolId === v.poolId &&
        m.candidates.every((p) => (capacity.get(p) ?? 0) <= 0)
      ) {
        this.unsettled.delete(v.id);
        return;
      }
      this.waitMemo.delete(v.id);
      const full = await store.sessions.get(v.id);
      if (!full) return;
      const outcome = await this.placer.place({ ...full, state: v.state, runnerId: v.runnerId }, task, snap);
      if (outcome.kind === 'waiting') {
        this.waitMemo.set(v.id, {
          world,
          reason: outcome.reason,
          poolId: outcome.poolId,
          candidates: outcome.candidates,
        });
        this.unsettled.delete(v.id);
      } else if (outcome.kind === 'placed') placed();
    };
    const visit = async (session: QueueEntry): Promise<void> => {
      const sessionId = session.id;
      const task = firstQueued.get(sessionId) ?? null;
      if (isTerminalSession(session.state)) {
        if (task)
          await store.tasks.transition(
            task.id,
            'cancelled',
            { error: `session ${session.state}`, finished_at: Date.now() },
            ['queued'],
          );
        return;
      }
      if (session.state === 'suspending' || session.state === 'suspended' || session.state === 'resuming') return;
      if (session.state === 'provisioning' && !session.runnerId) return; // provision() in flight
      if (task && withActiveTask.has(sessionId)) return;
      if (session.runnerId) {
        const runner = liveById.get(session.runnerId);
        // A drained runner keeps the task it holds but takes no new one: the session moves on.
        // (Not live in the snapshot = offline or terminated.)
        if (!runner || (runner.state === 'draining' && task)) {
          if (
            await store.sessions.transition(session.id, 'scheduling', { runner_id: null }, [
              'active',
              'idle',
              'scheduling',
            ])
          )
            await placeUnbound({ ...session, state: 'scheduling', runnerId: null }, task);
          return;
        }
        if (!task || runner.state !== 'idle' || !this.runners.gateway.isConnected(runner.id)) {
          if (!task && session.state === 'scheduling' && (runner.state === 'idle' || runner.state === 'busy'))
            await store.sessions.transition(session.id, 'idle', {}, ['scheduling']);
          return;
        }
        const claimed = await this.placer.claimAnd(runner.id, task.id, session.id, async (tx) => {
          await tx.sessions.transition(session.id, 'active', { state_reason: null }, [
            'scheduling',
            'idle',
            'active',
            'provisioning',
          ]);
        });
        if (!claimed) return;
        snapshotRunner(snap, runner.id, { state: 'busy', sessionId: session.id });
        liveById.set(runner.id, { ...runner, state: 'busy', sessionId: session.id });
        placed();
        const full = await store.sessions.get(session.id);
        if (!full) return;
        const active: Session = { ...full, state: 'active', stateReason: null };
        await this.commands.sendAssignment(claimed, {
          session: active,
          card: this.placer.cardFrom(snap, full),
          claimed: true,
        });
        emitTask(this.ctx, claimed);
        emitSession(this.ctx, active);
        return;
      }
      if (session.state !== 'scheduling') {
        if (!(await store.sessions.transition(session.id, 'scheduling', {}, ['active', 'idle']))) return;
        await placeUnbound({ ...session, state: 'scheduling' }, task);
      } else await placeUnbound(session, task);
    };
    try {
      // In queue order while any pool has room. Once none has, nothing more can be placed, so
      // only sessions whose standing is not settled need a visit: new or changed ones (to record
      // why they wait), and those bound to a runner of their own.
      const visited = new Set<string>();
      if (anyCapacity)
        for (const session of this.queue.ordered()) {
          if (!anyCapacity) break;
          visited.add(session.id);
          await visit(session);
        }
      for (const id of [...this.unsettled]) {
        const session = this.queue.get(id);
        if (session && !visited.has(id)) await visit(session);
      }
    } finally {
      await this.placer.recordWaits(snap.waits);
    }
    // Managed runners that came up for a session whose first task is not there (no prompt).
    for (const s of await store.sessions.listByState(['provisioning'])) {
      if (!s.runnerId) continue;
      const r = snap.live.find((x) => x.id === s.runnerId) ?? (await store.runners.get(s.runnerId));
      if (r?.state === 'idle' && !firstQueued.has(s.id))
        await store.sessions.transition(s.id, 'idle', {}, ['provisioning']);
    }
  }
}
