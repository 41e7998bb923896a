/**
 * @module Sessions and tasks on the server: creation and validation, placement (the pure
 * scheduler fed with live pool state), the assigner that binds queued tasks to idle runners,
 * cancellation, the retry policy for lost tasks, and idle-session reaping.
 *
 * The assigner runs as coalesced passes (`kick()`): any event that could unblock work (task
 * queued, runner idle, pool changed) asks for a pass; at most one runs at a time and another
 * follows if more were asked for meanwhile. Every binding is a compare-and-set claim in the
 * store, so a pass racing anything else cannot double-assign.
 */

import { Conflict, InvalidRequest, NotFound, toError, Unplaceable } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { QueueOrder } from '../core/queue.js';
import {
  type CompiledPool,
  compilePool,
  type Decision,
  decide,
  type PoolCandidate,
  summarizeUnplaceable,
} from '../core/scheduler.js';
import { mergeSelectors, parseSelector } from '../core/selector.js';
import { isTerminalSession } from '../core/states.js';
import type { AgentCard, Pool, Profile } from '../core/types.js';
import type { TaskAssignment } from '../protocol/messages.js';
import { providerClassView } from '../providers/registry.js';
import type { Changes, Repos } from '../store/index.js';
import type { Placement, Runner, Session, SessionRequest, Task } from '../store/records.js';
import { isClaimLost, type LiveRunner } from '../store/repos/runners.js';
import type { SessionPassView, SessionPatch } from '../store/repos/sessions.js';
import type { QueuedTaskRef } from '../store/repos/tasks.js';
import { assignmentFields, missingEnvError, renderTask, taskContext } from './agents.js';
import type { ServerContext } from './context.js';
import { type AssignmentContext, PoolFull, type RunnerService } from './runners.js';
import { withImageAndResources } from './sandbox-spec.js';
import { type CreateSessionBody, type CreateTaskBody, checkProvider } from './session-requests.js';

/**
 * How often the assigner reads the whole queue and every live runner again instead of only what
 * changed (see `SessionService.queue` and `snapshot`): every write to sessions, tasks and runners
 * is noted, so this only bounds how long anything missed could go unseen.
 */
const QUEUE_RELOAD_MS = 5_000;

/**
 * The order an assigner pass visits sessions in: higher `priority` first; within a priority, the
 * session whose oldest queued task was created first (a retry keeps its original creation time,
 * so a re-queued task does not lose its place); sessions with nothing queued come last. (The
 * assigner keeps this order as it goes, in a QueueOrder; this sorts a whole set at once.)
 */
export function passOrder<S extends Pick<SessionPassView, 'id' | 'priority' | 'createdAt'>>(
  sessions: Map<string, S>,
  firstQueued: Map<string, Pick<QueuedTaskRef, 'createdAt'>>,
): S[] {
  const q = new QueueOrder<S & { first: number }>();
  q.reset(
    [...sessions.values()].map((s) => ({ ...s, first: firstQueued.get(s.id)?.createdAt ?? Number.POSITIVE_INFINITY })),
  );
  return q.ordered();
}

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
 * What placement reads, taken once per assigner pass instead of once per session (with many
 * queued sessions that was the cost of a pass). Runners claimed or provisioned during the pass
 * are updated in place.
 */
interface PassSnapshot {
  cards: AgentCard[];
  profiles: Profile[];
  pools: Pool[];
  live: LiveRunner[];
  /** `live` grouped by pool and counted by provider; rebuilt when `live` changes (null = stale). */
  grouped: { byPool: Map<string, LiveRunner[]>; byProvider: Map<string, number> } | null;
  /** Why sessions wait, recorded at the end of the pass in one transaction (see `recordWaits`). */
  waits: WaitRecord[];
}

/** A waiting session's new reason and placement, and the event that says so. */
interface WaitRecord {
  session: Session;
  patch: SessionPatch;
  event: [type: string, data: Record<string, unknown>];
}

function snapshotRunner(snap: PassSnapshot, id: string, patch: Partial<LiveRunner>): void {
  const i = snap.live.findIndex((r) => r.id === id);
  if (i >= 0) snap.live[i] = { ...(snap.live[i] as LiveRunner), ...patch };
  snap.grouped = null;
}

function groupLive(live: readonly LiveRunner[]): NonNullable<PassSnapshot['grouped']> {
  const byPool = new Map<string, LiveRunner[]>();
  const byProvider = new Map<string, number>();
  for (const r of live) {
    const list = byPool.get(r.poolId);
    if (list) list.push(r);
    else byPool.set(r.poolId, [r]);
    byProvider.set(r.providerId, (byProvider.get(r.providerId) ?? 0) + 1);
  }
  return { byPool, byProvider };
}

/**
 * Per pool, how many sessions this snapshot could still place there without waiting: idle
 * unbound runners plus, for an active managed pool, its free slots (unlimited when it has no
 * max). Deliberately generous (it ignores selectors and health): it only has to be zero when the
 * pool can take no session.
 */
export function assignableCapacity(snap: { pools: readonly Pool[]; live: readonly LiveRunner[] }): Map<string, number> {
  const cap = new Map<string, number>();
  const perPool = new Map<string, number>();
  for (const r of snap.live) {
    perPool.set(r.poolId, (perPool.get(r.poolId) ?? 0) + 1);
    if (r.state === 'idle' && r.sessionId === null && !r.draining) cap.set(r.poolId, (cap.get(r.poolId) ?? 0) + 1);
  }
  for (const p of snap.pools) {
    if (p.mode !== 'managed' || !p.active) continue;
    const free =
      p.maxRunners === null ? Number.POSITIVE_INFINITY : Math.max(0, p.maxRunners - (perPool.get(p.id) ?? 0));
    cap.set(p.id, (cap.get(p.id) ?? 0) + free);
  }
  return cap;
}

function hasCapacity(capacity: ReadonlyMap<string, number>): boolean {
  for (const n of capacity.values()) if (n > 0) return true;
  return false;
}

/** Pools whose verdict could turn into a placement if they had capacity (see WaitMemo). */
function capacityCandidates(d: Decision): string[] {
  return d.verdicts
    .filter((v) => v.reason === null || v.reason === 'lower_priority' || v.reason === 'at_capacity')
    .map((v) => v.poolId);
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
  parts.push('|', JSON.stringify([...health]), JSON.stringify(snap.cards), JSON.stringify(snap.profiles), '|');
  for (const r of snap.live) parts.push(r.id);
  return parts.join(' ');
}

/** What placement reads besides runners; changes only through PoolService (see `catalogView`). */
interface Catalog {
  cards: AgentCard[];
  profiles: Profile[];
  pools: Pool[];
}

/**
 * What a waiting session was last told, under which world (see `worldKey`), and the pools that
 * were eligible but had no room (`candidates`). Everything else a decision reads is in the world
 * key, so while the key is the same and none of those pools has capacity, the decision could only
 * come out the same: the session is not evaluated again.
 */
interface WaitMemo {
  /** The world's version (see `SessionService.world`). */
  world: number;
  reason: string | null;
  poolId: string | null;
  candidates: string[];
}

/** What `place` did with a session. */
type PlaceOutcome =
  | { kind: 'placed' }
  | { kind: 'waiting'; reason: string; poolId: string | null; candidates: string[] }
  | { kind: 'other' };

export class SessionService {
  private readonly compiled = new Map<string, { updatedAt: number; compiled: CompiledPool }>();
  private catalog: Promise<Catalog> | null = null;
  /** The catalog once `catalog` has resolved (readable without awaiting, e.g. inside a transaction). */
  private catalogLoaded: Catalog | null = null;
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
  /** Health of providers as last probed (`null` = reachable). */
  readonly providerHealth = new Map<string, string | null>();

  constructor(
    private readonly ctx: ServerContext,
    private readonly runners: RunnerService,
  ) {
    runners.events = {
      taskFinished: (t) => this.onTaskFinished(t),
      finishTaskIn: (t, tx) => this.finishTaskIn(t, tx),
      runnerLost: (r, t) => this.onRunnerLost(r, t),
      runnerIdle: () => this.kick(),
    };
    runners.buildAssignment = (s, t, known) => this.buildAssignment(s, t, known);
  }

  // ---- catalog ------------------------------------------------------------------------------

  /**
   * The catalog (agent cards, profiles, pools) as last read. Every request and every assigner pass
   * reads it and it rarely changes, so it is read once and kept until `poolsChanged()`: every
   * write to it goes through PoolService, which calls that after the write.
   */
  private catalogView(): Promise<Catalog> {
    if (this.catalog) return this.catalog;
    const { store, orgId } = this.ctx;
    const read = (async () => ({
      cards: await store.pools.agentCards(orgId),
      profiles: await store.pools.profiles(orgId),
      pools: await store.pools.list(orgId),
    }))();
    this.catalog = read;
    read.then(
      (c) => {
        if (this.catalog === read) this.catalogLoaded = c;
      },
      // A failed read is not kept.
      () => {
        if (this.catalog === read) this.catalog = null;
      },
    );
    return read;
  }

  async agentCards(): Promise<AgentCard[]> {
    return (await this.catalogView()).cards;
  }

  /** The org's pools, from the catalog. */
  async pools(): Promise<Pool[]> {
    return (await this.catalogView()).pools;
  }

  /** A pool by id, from the catalog. */
  private async poolById(id: string): Promise<Pool | null> {
    return (await this.catalogView()).pools.find((p) => p.id === id) ?? null;
  }

  async agentCard(name: string): Promise<AgentCard> {
    const cards = await this.agentCards();
    const card = cards.find((c) => c.name === name);
    if (!card)
      throw new InvalidRequest(
        `unknown agent ${JSON.stringify(name)}; known agents: ${cards.map((c) => c.name).join(', ')}`,
        {
          hint: 'list them with `mctl agents list`, or add one with `mctl agents create`',
        },
      );
    return card;
  }

  async profile(name: string): Promise<Profile> {
    const all = (await this.catalogView()).profiles;
    const p = all.find((x) => x.name === name);
    if (!p)
      throw new InvalidRequest(
        `unknown profile ${JSON.stringify(name)}; known profiles: ${all.map((x) => x.name).join(', ') || '(none)'}`,
      );
    return p;
  }

  // ---- creation -----------------------------------------------------------------------------

  private checkPrompt(prompt: string): void {
    const bytes = Buffer.byteLength(prompt, 'utf8');
    if (bytes > this.ctx.config.maxPromptBytes)
      throw new InvalidRequest(`prompt is ${bytes} bytes; the limit is ${this.ctx.config.maxPromptBytes} bytes`, {
        hint: 'put long inputs in the workspace and refer to them from the prompt',
      });
  }

  /** Validates a create request fully (agent, profile, selector, prompt) before anything is written. */
  private async resolveRequest(
    body: CreateSessionBody,
  ): Promise<{ request: SessionRequest; card: AgentCard; profile: Profile | null }> {
    const card = await this.agentCard(body.agent);
    if (body.provider !== undefined) checkProvider(body.provider);
    if (body.prompt !== undefined) this.checkPrompt(body.prompt);
    if (body.selector) parseSelector(body.selector);
    const profile = body.profile ? await this.profile(body.profile) : null;
    if (body.pool && !(await this.catalogView()).pools.some((p) => p.id === body.pool || p.name === body.pool))
      throw new InvalidRequest(`unknown pool ${JSON.stringify(body.pool)}`, {
        hint: 'list pools with `mctl pools list`',
      });
    const { pools } = await this.catalogView();
    return {
      card,
      profile,
      request: withImageAndResources(body, pools, this.ctx.config.providers, {
        agent: card.name,
        prompt: body.prompt ?? null,
        provider: body.provider ?? null,
        pool: body.pool ?? null,
        selector: body.selector?.trim() ? body.selector.trim() : null,
        profile: body.profile ?? null,
        authMode: body.authMode ?? 'byok',
        env: body.env ?? {},
        ...(body.priority ? { priority: body.priority } : {}),
        ...(body.taskTimeoutMs ? { taskTimeoutMs: body.taskTimeoutMs } : {}),
      }),
    };
  }

  async createSession(
    body: CreateSessionBody,
  ): Promise<{ session: Session; tasks: Task[] } | { dryRun: true; decision: Placement }> {
    const { request } = await this.resolveRequest(body);
    if (body.dryRun) {
      const decision = await this.evaluate(request);
      return { dryRun: true, decision: this.toPlacement(decision) };
    }
    const { store } = this.ctx;
    const now = Date.now();
    const id = newId('ses');
    const waitForCapacity = body.waitForCapacity ?? true;
    // Decide before writing anything, so a refused request leaves no session, task or event.
    if (!waitForCapacity) {
      const decision = await this.evaluate(request);
      if (!decision.chosen) {
        const placement = this.toPlacement(decision);
        throw new Unplaceable(`no pool can take this session: ${placement.summary}`, {
          hint: 'nothing was created; without --no-wait-for-capacity the session would wait for capacity (`mctl sessions create --dry-run` shows the same verdicts)',
          details: { verdicts: placement.verdicts },
        });
      }
    }
    // One transaction: the session, its first task and its first event commit together.
    const row = {
      id,
      org_id: this.ctx.orgId,
      project_id: this.ctx.projectId,
      agent: request.agent,
      // Written as `scheduling` directly: it would be `pending` only until this transaction
      // commits, which no reader can see.
      state: 'scheduling',
      state_reason: null,
      pool_id: null,
      runner_id: null,
      request: JSON.stringify(request),
      placement: null,
      wait_for_capacity: waitForCapacity ? 1 : 0,
      priority: request.priority ?? 0,
      suspend: null,
      created_at: now,
      updated_at: now,
      ended_at: null,
    } as const;
    const prompt = request.prompt;
    const { session, tasks } = await store.transaction(async (tx) => {
      const inserted = await tx.sessions.insert(row);
      const tasks: Task[] = [];
      if (prompt !== null) tasks.push(await this.insertTask(inserted, prompt, body.maxRetries, undefined, tx));
      await tx.sessions.addEvent(id, this.ctx.orgId, 'created', { agent: request.agent });
      return { session: inserted, tasks };
    });
    for (const task of tasks) this.emitTask(task);
    this.kick();
    return { session, tasks };
  }

  /** Inserts a queued task. Through `tx` it is part of the caller's transaction, which emits it after commit. */
  private async insertTask(
    session: Session,
    prompt: string,
    maxRetries?: number,
    retryOf?: Task,
    tx?: Repos,
  ): Promise<Task> {
    const task = await (tx ?? this.ctx.store).tasks.insert({
      id: newId('tsk'),
      org_id: session.orgId,
      session_id: session.id,
      prompt,
      state: 'queued',
      runner_id: null,
      attempt: retryOf ? retryOf.attempt + 1 : 1,
      max_retries: retryOf ? retryOf.maxRetries : (maxRetries ?? this.ctx.config.maxRetries),
      retry_of: retryOf?.id ?? null,
      exit_code: null,
      error: null,
      cancel_requested: 0,
      created_at: retryOf ? retryOf.createdAt : Date.now(),
      assigned_at: null,
      started_at: null,
      finished_at: null,
    });
    if (!tx) this.emitTask(task);
    return task;
  }

  async createTask(sessionId: string, body: CreateTaskBody): Promise<Task> {
    const session = await this.getSession(sessionId);
    this.checkPrompt(body.prompt);
    if (isTerminalSession(session.state))
      throw new Conflict(`session ${session.id} is ${session.state}; tasks can only be added to a live session`);
    const task = await this.insertTask(session, body.prompt, body.maxRetries);
    if (session.state === 'suspended')
      await this.ctx.store.sessions.addEvent(session.id, session.orgId, 'task_queued_while_suspended', {});
    this.kick();
    return task;
  }

  async getSession(id: string): Promise<Session> {
    const s = await this.ctx.store.sessions.get(id, this.ctx.orgId);
    if (!s) throw new NotFound('session', id, 'list sessions with `mctl sessions list`');
    return s;
  }

  async getTask(id: string): Promise<Task> {
    const t = await this.ctx.store.tasks.get(id, this.ctx.orgId);
    if (!t) throw new NotFound('task', id, 'list tasks with `mctl tasks list`');
    return t;
  }

  // ---- cancellation -------------------------------------------------------------------------

  async cancelTask(id: string): Promise<Task> {
    const task = await this.getTask(id);
    if (task.state === 'queued') {
      if (
        await this.ctx.store.tasks.transition(
          id,
          'cancelled',
          { error: 'cancelled by request', finished_at: Date.now() },
          ['queued'],
        )
      ) {
        const t = await this.getTask(id);
        this.ctx.bus.emit('task:updated', { task: t });
        await this.onTaskFinished(t);
        return t;
      }
      return this.cancelTask(id);
    }
    if (task.state === 'assigned' || task.state === 'running') {
      await this.runners.cancelRunningTask(task);
      return this.getTask(id);
    }
    throw new Conflict(`task ${id} is already ${task.state}`);
  }

  async cancelSession(id: string): Promise<Session> {
    const session = await this.getSession(id);
    if (isTerminalSession(session.state)) throw new Conflict(`session ${id} is already ${session.state}`);
    if (
      !(await this.ctx.store.sessions.transition(id, 'cancelled', {
        ended_at: Date.now(),
        state_reason: 'cancelled by request',
      }))
    )
      return this.cancelSession(id);
    for (const t of await this.ctx.store.tasks.openInSession(id)) {
      if (t.state === 'queued')
        await this.ctx.store.tasks.transition(
          t.id,
          'cancelled',
          { error: 'session cancelled', finished_at: Date.now() },
          ['queued'],
        );
      else await this.runners.cancelRunningTask(t);
    }
    await this.ctx.store.sessions.addEvent(id, session.orgId, 'cancelled', {});
    await this.releaseRunner(session, 'session cancelled');
    const s = await this.getSession(id);
    this.ctx.bus.emit('session:updated', { session: s });
    return s;
  }

  private async failSession(session: Session, reason: string, placement?: Placement): Promise<void> {
    const ok = await this.ctx.store.sessions.transition(session.id, 'failed', {
      ended_at: Date.now(),
      state_reason: reason,
      ...(placement ? { placement: JSON.stringify(placement) } : {}),
    });
    if (!ok) return;
    for (const t of await this.ctx.store.tasks.openInSession(session.id))
      if (t.state === 'queued')
        await this.ctx.store.tasks.transition(
          t.id,
          'failed',
          { error: `session failed: ${reason}`, finished_at: Date.now() },
          ['queued'],
        );
    await this.ctx.store.sessions.addEvent(session.id, session.orgId, 'failed', { reason });
    await this.releaseRunner(session, reason);
    const s = await this.ctx.store.sessions.get(session.id);
    if (s) this.ctx.bus.emit('session:updated', { session: s });
  }

  /** Lets go of a session's runner: managed runners are terminated, pool runners go back to idle. */
  private async releaseRunner(session: Session, reason: string): Promise<void> {
    const runnerId = session.runnerId;
    if (!runnerId) return;
    const runner = await this.ctx.store.runners.get(runnerId);
    if (!runner || runner.state === 'terminated') return;
    const pool = await this.poolById(runner.poolId);
    // A warm managed pool (min_runners or idle_timeout set) takes an idle runner back, unbound;
    // the autoscaler reaps it after idle_timeout. Files the session left in the runner's
    // workspace stay there (docs/pools.md).
    const backToPool =
      pool?.mode === 'managed' &&
      pool.lifecycle === 'per-session' &&
      (pool.minRunners > 0 || pool.idleTimeoutMs !== null) &&
      runner.state === 'idle' &&
      !runner.draining;
    if (pool?.mode === 'managed' && !backToPool) await this.runners.terminate(runner, reason);
    else {
      await this.ctx.store.runners.update(runner.id, { session_id: null });
      this.kick();
    }
  }

  // ---- placement ----------------------------------------------------------------------------

  private compile(pool: Pool): CompiledPool {
    const hit = this.compiled.get(pool.id);
    if (hit && hit.updatedAt === pool.updatedAt) return hit.compiled;
    const compiled = compilePool(pool, providerClassView(pool.providerId, this.ctx.providers));
    this.compiled.set(pool.id, { updatedAt: pool.updatedAt, compiled });
    return compiled;
  }

  /**
   * Reads what placement looks at, once per assigner pass (see PassSnapshot). Live runners are kept
   * between passes like the queue: read in full now and then, otherwise only those written since
   * the last pass (`changed`, from the store's ChangeLog) are read again.
   */
  private async snapshot(
    tx: Repos,
    catalog: Catalog,
    changed: ReadonlySet<string>,
    full: boolean,
  ): Promise<PassSnapshot> {
    const { orgId } = this.ctx;
    const { cards, profiles, pools } = catalog;
    if (full) {
      this.live.clear();
      for (const r of await tx.runners.liveViews(orgId)) this.live.set(r.id, r);
    } else if (changed.size) {
      const ids = [...changed];
      const fresh = new Map((await tx.runners.liveViewsByIds(orgId, ids)).map((r) => [r.id, r]));
      // A runner keeps its place in the order (set on an existing key), so the pick among idle
      // runners stays oldest first.
      for (const id of ids) {
        const r = fresh.get(id);
        if (r) this.live.set(id, r);
        else this.live.delete(id);
      }
    }
    return { cards, profiles, pools, live: [...this.live.values()], grouped: null, waits: [] };
  }

  /** Runs the pure scheduler over the live pools for a request (from a pass's snapshot when given). */
  async evaluate(request: SessionRequest, snap?: PassSnapshot): Promise<Decision> {
    const { store } = this.ctx;
    let card: AgentCard;
    let profile: Profile | null = null;
    if (snap) {
      const c = snap.cards.find((x) => x.name === request.agent);
      card = c ?? (await this.agentCard(request.agent));
      if (request.profile) profile = snap.profiles.find((x) => x.name === request.profile) ?? null;
      if (request.profile && !profile) profile = await this.profile(request.profile);
    } else {
      card = await this.agentCard(request.agent);
      profile = request.profile ? await this.profile(request.profile) : null;
    }
    const pools = snap ? snap.pools : (await this.catalogView()).pools;
    let grouped: NonNullable<PassSnapshot['grouped']>;
    if (snap) {
      snap.grouped ??= groupLive(snap.live);
      grouped = snap.grouped;
    } else grouped = groupLive(await store.runners.liveViews(this.ctx.orgId));
    const { byPool, byProvider } = grouped;
    const candidates: PoolCandidate[] = pools.map((p) => ({
      pool: this.compile(p),
      capabilities: this.ctx.providers.get(p.providerId)?.capabilities,
      providerUnavailable: this.providerHealth.get(p.providerId) ?? null,
      // Warm runners still starting count toward max_runners (they are not idle, so not assignable).
      runners: byPool.get(p.id) ?? [],
      providerLiveRunners: byProvider.get(p.providerId) ?? 0,
    }));
    const selector = mergeSelectors(
      request.selector ? parseSelector(request.selector) : null,
      profile?.selector ? parseSelector(profile.selector) : null,
    );
    return decide(
      {
        orgId: this.ctx.orgId,
        agent: card,
        authMode: request.authMode,
        providerId: request.provider,
        poolName: request.pool,
        selector,
        profile,
      },
      candidates,
    );
  }

  private toPlacement(d: Decision): Placement {
    return {
      decidedAt: Date.now(),
      chosenPoolId: d.chosen?.poolId ?? null,
      action: d.chosen?.action ?? null,
      verdicts: d.verdicts,
      summary: d.chosen
        ? `placed on pool ${d.chosen.poolName} (${d.chosen.action})`
        : d.verdicts.length === 0
          ? 'no pools exist'
          : summarizeUnplaceable(d.verdicts),
    };
  }

  /**
   * Places a session that has no runner: assign an idle runner, provision one, or wait. Takes
   * the pass's snapshot (placement reads nothing else) and reports what it did, so the pass can
   * track its remaining capacity and remember waiting sessions.
   */
  private async place(session: Session, firstTask: QueuedTaskRef | null, snap: PassSnapshot): Promise<PlaceOutcome> {
    const { store } = this.ctx;
    const decision = await this.evaluate(session.request, snap);
    const placement = this.toPlacement(decision);
    const chosen = decision.chosen;
    if (!chosen) {
      if (!session.waitForCapacity) {
        await this.failSession(session, `no eligible pool: ${placement.summary}`, placement);
        return { kind: 'other' };
      }
      const reason = `waiting for capacity: ${placement.summary}`;
      if (session.stateReason !== reason)
        snap.waits.push({
          session: { ...session, placement, stateReason: reason },
          patch: { placement: JSON.stringify(placement), state_reason: reason },
          event: ['unplaced', { summary: placement.summary }],
        });
      return { kind: 'waiting', reason, poolId: session.poolId, candidates: capacityCandidates(decision) };
    }
    const pool = snap.pools.find((p) => p.id === chosen.poolId);
    if (!pool) return { kind: 'other' };
    const placed = { pool_id: pool.id, placement: JSON.stringify(placement), state_reason: null };
    const placedEvent = { pool: pool.name, runnerId: chosen.runnerId, action: chosen.action };
    switch (chosen.action) {
      case 'assign': {
        const runnerId = chosen.runnerId!;
        if (firstTask) {
          // The claim, the session's move to active and its event commit together.
          const claimed = await this.claimAnd(runnerId, firstTask.id, session.id, async (tx) => {
            await tx.sessions.transition(session.id, 'active', { ...placed, runner_id: runnerId });
            await tx.sessions.addEvent(session.id, session.orgId, 'placed', placedEvent);
          });
          if (!claimed) {
            this.kick();
            return { kind: 'other' };
          }
          snapshotRunner(snap, runnerId, { state: 'busy', sessionId: session.id });
          const active: Session = {
            ...session,
            state: 'active',
            poolId: pool.id,
            runnerId,
            placement,
            stateReason: null,
            updatedAt: Date.now(),
          };
          await this.runners.sendAssignment(claimed, {
            session: active,
            card: this.cardFrom(snap, session),
            claimed: true,
          });
          this.emitTask(claimed);
          this.emitSession(active);
        } else {
          if (!(await store.runners.bindIdle(runnerId, session.id))) {
            this.kick();
            return { kind: 'other' };
          }
          snapshotRunner(snap, runnerId, { sessionId: session.id });
          await store.transaction(async (tx) => {
            await tx.sessions.transition(session.id, 'idle', { ...placed, runner_id: runnerId }, ['scheduling']);
            await tx.sessions.addEvent(session.id, session.orgId, 'placed', placedEvent);
          });
          await this.emitSessionById(session.id);
        }
        return { kind: 'placed' };
      }
      case 'provision': {
        const moved = await store.transaction(async (tx) => {
          if (!(await tx.sessions.transition(session.id, 'provisioning', placed, ['scheduling']))) return false;
          await tx.sessions.addEvent(session.id, session.orgId, 'placed', { pool: pool.name, action: 'provision' });
          return true;
        });
        if (!moved) return { kind: 'other' };
        try {
          const runner = await this.runners.provision(pool, session);
          snap.live.push(runner);
          snap.grouped = null;
          await store.sessions.update(session.id, { runner_id: runner.id });
        } catch (e: unknown) {
          if (e instanceof PoolFull) {
            // Another runner took the last slot since the snapshot: wait for capacity again.
            await store.sessions.transition(session.id, 'scheduling', {}, ['provisioning']);
            return { kind: 'other' };
          }
          const err = toError(e);
          this.ctx.log.warn({ err, sessionId: session.id, pool: pool.name }, 'provisioning failed');
          const s = await store.sessions.get(session.id);
          if (s) await this.failSession(s, `provisioning on pool ${pool.name} failed: ${err.message}`);
          return { kind: 'other' };
        }
        await this.emitSessionById(session.id);
        return { kind: 'placed' };
      }
      case 'wait': {
        const reason = `waiting for an idle runner in pool ${pool.name}`;
        if (session.stateReason !== reason || session.poolId !== pool.id)
          snap.waits.push({
            session: { ...session, poolId: pool.id, placement, stateReason: reason },
            patch: { pool_id: pool.id, placement: JSON.stringify(placement), state_reason: reason },
            event: ['waiting', { pool: pool.name }],
          });
        return { kind: 'waiting', reason, poolId: pool.id, candidates: capacityCandidates(decision) };
      }
    }
  }

  /**
   * Writes why sessions wait, all of a pass's in one transaction (under load most sessions wait
   * once before they are placed). Each write holds only while the session is still `scheduling`,
   * so a session cancelled meanwhile keeps its own reason.
   */
  private async recordWaits(waits: WaitRecord[]): Promise<void> {
    if (!waits.length) return;
    const written = await this.ctx.store.transaction(async (tx) => {
      const out: Session[] = [];
      for (const w of waits) {
        if (!(await tx.sessions.transition(w.session.id, 'scheduling', w.patch, ['scheduling']))) continue;
        await tx.sessions.addEvent(w.session.id, w.session.orgId, ...w.event);
        out.push(w.session);
      }
      return out;
    });
    for (const s of written) this.emitSession(s);
  }

  /**
   * Claims `taskId` for `runnerId` (compare-and-set, see RunnerRepo.claim) and runs `then` in the
   * same transaction: both commit or neither does. Null when the claim was lost.
   */
  private async claimAnd(
    runnerId: string,
    taskId: string,
    sessionId: string,
    then: (tx: Repos) => Promise<void>,
  ): Promise<Task | null> {
    try {
      return await this.ctx.store.transaction(async (tx) => {
        const claimed = await tx.runners.claim(runnerId, taskId, sessionId);
        if (claimed) await then(tx);
        return claimed;
      });
    } catch (e: unknown) {
      if (isClaimLost(e)) return null;
      throw e;
    }
  }

  /** The agent card for a session from a pass's snapshot (undefined: look it up). */
  private cardFrom(snap: PassSnapshot, session: Session): AgentCard | undefined {
    return snap.cards.find((c) => c.name === session.agent);
  }

  private emitSession(session: Session): void {
    this.ctx.bus.emit('session:updated', { session });
  }

  private async emitSessionById(id: string): Promise<void> {
    const s = await this.ctx.store.sessions.get(id);
    if (s) this.emitSession(s);
  }

  // ---- the assigner -------------------------------------------------------------------------

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

  private emitTask(task: Task): void {
    this.ctx.bus.emit('task:updated', { task });
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
    const catalog = await this.catalogView();
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
      const outcome = await this.place({ ...full, state: v.state, runnerId: v.runnerId }, task, snap);
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
        const claimed = await this.claimAnd(runner.id, task.id, session.id, async (tx) => {
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
        await this.runners.sendAssignment(claimed, {
          session: active,
          card: this.cardFrom(snap, full),
          claimed: true,
        });
        this.emitTask(claimed);
        this.emitSession(active);
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
      await this.recordWaits(snap.waits);
    }
    // Managed runners that came up for a session whose first task is not there (no prompt).
    for (const s of await store.sessions.listByState(['provisioning'])) {
      if (!s.runnerId) continue;
      const r = snap.live.find((x) => x.id === s.runnerId) ?? (await store.runners.get(s.runnerId));
      if (r?.state === 'idle' && !firstQueued.has(s.id))
        await store.sessions.transition(s.id, 'idle', {}, ['provisioning']);
    }
  }

  private async buildAssignment(
    session: Session,
    task: Task,
    known: AssignmentContext,
  ): Promise<TaskAssignment | null> {
    const card = known.card ?? (await this.agentCard(session.agent).catch(() => null));
    if (!card) {
      await this.failTask(task, `agent ${session.agent} no longer exists`);
      return null;
    }
    const profile = session.request.profile ? await this.profile(session.request.profile).catch(() => null) : null;
    // Only a card that resumes conversations needs the last one (one query fewer per task otherwise).
    const conversationId = card.resume ? await this.ctx.store.tasks.lastConversationId(session.id) : null;
    const r = renderTask(card, task.prompt, taskContext(session, task, this.ctx.config, profile, conversationId));
    if (r.missing.length) {
      await this.failTask(task, missingEnvError(card, r.missing));
      return null;
    }
    return {
      taskId: task.id,
      sessionId: session.id,
      agent: card.name,
      workspace: null,
      resumeAfterSeq: known.claimed ? 0 : await this.ctx.store.logs.maxSeq(task.id),
      ...assignmentFields(r),
    };
  }

  private async failTask(task: Task, error: string): Promise<void> {
    if (
      await this.ctx.store.tasks.transition(task.id, 'failed', { error, finished_at: Date.now() }, [
        'queued',
        'assigned',
        'running',
      ])
    ) {
      if (task.runnerId) await this.ctx.store.runners.transition(task.runnerId, 'idle', {}, ['busy']);
      const t = await this.ctx.store.tasks.get(task.id);
      if (t) {
        this.emitTask(t);
        await this.onTaskFinished(t);
      }
    }
  }

  // ---- callbacks from the runner side -------------------------------------------------------

  /**
   * The session side of a finished task, written through `tx`: the `task_finished` event, the
   * session back to idle when nothing is open, and under the per-task lifecycle its runner let go
   * (a pool runner is unbound here; a managed one is named in `terminateRunner` and terminated by
   * `after`, outside the transaction, since that talks to the provider). `after` runs after
   * commit: it terminates, emits and asks for a pass.
   */
  async finishTaskIn(
    task: Task,
    tx: Repos,
    opts: { callerUnbinds?: boolean } = {},
  ): Promise<{ terminateRunner: string | null; unbindRunner: string | null; after: () => Promise<void> }> {
    const session = await tx.sessions.get(task.sessionId);
    if (!session) return { terminateRunner: null, unbindRunner: null, after: async () => {} };
    // Read through `tx` unless the catalog is at hand: a read outside the transaction would wait
    // for the connection this transaction holds.
    const pool = session.poolId
      ? (this.catalogLoaded?.pools.find((p) => p.id === session.poolId) ?? (await tx.pools.byId(session.poolId)))
      : null;
    const releaseRunner =
      pool?.lifecycle === 'per-task' && session.runnerId !== null && !isTerminalSession(session.state);
    const managed = pool?.mode === 'managed';
    await tx.sessions.addEvent(session.id, session.orgId, 'task_finished', {
      taskId: task.id,
      state: task.state,
      exitCode: task.exitCode,
    });
    const patch = releaseRunner ? { runner_id: null } : {};
    // A pool runner is unbound here, or by the caller in the same transaction when it moves the
    // runner back to idle anyway (`callerUnbinds`: one write instead of two).
    const unbindRunner = releaseRunner && !managed ? session.runnerId : null;
    if (unbindRunner && !opts.callerUnbinds) await tx.runners.update(unbindRunner, { session_id: null });
    const open = await tx.tasks.openInSession(session.id);
    let updated: Session = { ...session, ...(releaseRunner ? { runnerId: null } : {}) };
    if (open.length === 0 && (await tx.sessions.transition(session.id, 'idle', patch, ['active'])))
      updated = { ...updated, state: 'idle' };
    else if (releaseRunner) await tx.sessions.update(session.id, patch);
    const terminateRunner = releaseRunner && managed ? session.runnerId : null;
    return {
      terminateRunner,
      unbindRunner,
      after: async () => {
        if (terminateRunner) {
          const runner = await this.ctx.store.runners.get(terminateRunner);
          if (runner) await this.runners.terminate(runner, 'per-task lifecycle: task finished');
        }
        this.emitSession({ ...updated, updatedAt: Date.now() });
        this.kick();
      },
    };
  }

  private async onTaskFinished(task: Task): Promise<void> {
    const { after } = await this.ctx.store.transaction((tx) => this.finishTaskIn(task, tx));
    await after();
  }

  private async onRunnerLost(runner: Runner, task: Task | null): Promise<void> {
    const { store } = this.ctx;
    if (task && task.state === 'lost') {
      const session = await store.sessions.get(task.sessionId);
      if (session && !isTerminalSession(session.state) && task.attempt <= task.maxRetries) {
        const retry = await this.insertTask(session, task.prompt, undefined, task);
        await store.sessions.addEvent(session.id, session.orgId, 'task_retried', {
          lost: task.id,
          retry: retry.id,
          attempt: retry.attempt,
        });
      } else if (session) {
        await store.sessions.addEvent(session.id, session.orgId, 'task_lost', { taskId: task.id });
      }
    }
    if (runner.sessionId) {
      const session = await store.sessions.get(runner.sessionId);
      if (session && session.runnerId === runner.id && !isTerminalSession(session.state)) {
        const open = await store.tasks.openInSession(session.id);
        await store.sessions.transition(session.id, open.length ? 'scheduling' : 'idle', { runner_id: null }, [
          'active',
          'idle',
          'provisioning',
        ]);
        await store.sessions.addEvent(session.id, session.orgId, 'runner_lost', { runnerId: runner.id });
      }
    }
    const pool = await this.poolById(runner.poolId);
    if (pool?.mode === 'managed') await this.runners.terminate(runner, 'lease expired');
    else await store.runners.update(runner.id, { session_id: null });
    this.kick();
  }

  /** Completes sessions idle longer than `sessions.idle_timeout`, releasing their runners. */
  async reapIdleSessions(now = Date.now()): Promise<void> {
    for (const s of await this.ctx.store.sessions.listByState(['idle'])) {
      if (now - s.updatedAt < this.ctx.config.sessionIdleTimeoutMs) continue;
      if (
        await this.ctx.store.sessions.transition(s.id, 'completed', { ended_at: now, state_reason: 'idle timeout' }, [
          'idle',
        ])
      ) {
        await this.ctx.store.sessions.addEvent(s.id, s.orgId, 'completed', { reason: 'idle timeout' });
        await this.releaseRunner(s, 'session completed');
      }
    }
  }

  /** Sessions and runners a pool change could affect: re-run placement. */
  poolsChanged(): void {
    this.catalog = null;
    this.catalogLoaded = null;
    this.compiled.clear();
    this.kick();
  }
}
