/**
 * @module Placement: runs the pure scheduler (src/core/scheduler.ts) over the live pools for a
 * session's request, and acts on the decision for a session that has no runner: assign an idle
 * runner (a compare-and-set claim), provision one, or wait with a recorded reason.
 */

import { capacityCandidates } from '../core/capacity.js';
import { toError } from '../core/errors.js';
import {
  type CompiledPool,
  compilePool,
  type Decision,
  decide,
  type PlacementRequest,
  type PoolCandidate,
  summarizeUnplaceable,
} from '../core/scheduler.js';
import { parseSelector } from '../core/selector.js';
import type { AgentCard, Pool, Profile, SessionState } from '../core/types.js';
import { credentialMissingDetail } from '../providers/credentials.js';
import { providerClassView } from '../providers/registry.js';
import { type OrgScope, orgScope, type Repos } from '../store/index.js';
import type { Placement, Session, SessionRequest, Task } from '../store/records.js';
import { isClaimLost, type LiveRunner } from '../store/repos/runners.js';
import type { SessionPatch } from '../store/repos/sessions.js';
import type { QueuedTaskRef } from '../store/repos/tasks.js';
import type { ServerContext } from './context.js';
import { repoRequirements } from './git-credentials.js';
import { sandboxPlacement } from './pool-sandbox.js';
import type { RunnerControl } from './runner-control.js';
import { PoolFull } from './runner-provision.js';
import type { InstallCatalog, SessionCatalog } from './session-catalog.js';
import { emitSession, emitSessionById, emitTask } from './session-common.js';
import type { TaskCommands } from './task-commands.js';
import type { TaskLifecycle } from './task-lifecycle.js';

/**
 * What placement reads, taken once per assigner pass instead of once per session (with many
 * queued sessions that was the cost of a pass). Runners claimed or provisioned during the pass
 * are updated in place.
 */
export interface PassSnapshot {
  /** Every org's catalog; a session is evaluated against its own org's part only. */
  catalog: InstallCatalog;
  /** Every org's pools. */
  pools: Pool[];
  live: LiveRunner[];
  /** `live` grouped by pool and counted by provider; rebuilt when `live` changes (null = stale). */
  grouped: { byPool: Map<string, LiveRunner[]>; byProvider: Map<string, number> } | null;
  /** Why sessions wait, recorded at the end of the pass in one transaction (see `recordWaits`). */
  waits: WaitRecord[];
}

/** A waiting session's new reason and placement, and the event that says so. */
export interface WaitRecord {
  session: Session;
  patch: SessionPatch;
  event: [type: string, data: Record<string, unknown>];
}

/** Updates a runner in a pass's snapshot in place (claimed or bound during the pass). */
export function snapshotRunner(snap: PassSnapshot, id: string, patch: Partial<LiveRunner>): void {
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
 * What the scheduler is asked for a session's request. The selector is the request's own: the
 * scheduler ANDs the profile's selector to it (see PlacementRequest.profile), so it is not merged
 * here as well (it was, and every profile term was checked twice).
 */
export function placementRequest(
  orgId: string,
  request: SessionRequest,
  card: AgentCard,
  profile: Profile | null,
): PlacementRequest {
  const repoNeeds = repoRequirements(request.repo);
  return {
    orgId,
    // A session's repository adds `git` (and `full-history-clone`) to what its card requires.
    agent: repoNeeds.length ? { ...card, requires: [...card.requires, ...repoNeeds.map((kind) => ({ kind }))] } : card,
    authMode: request.authMode,
    providerId: request.provider,
    poolName: request.pool,
    selector: request.selector ? parseSelector(request.selector) : null,
    profile,
    egress: request.egress ?? null,
  };
}

/** What `place` did with a session. */
export type PlaceOutcome =
  | { kind: 'placed' }
  | { kind: 'waiting'; reason: string; poolId: string | null; candidates: string[] }
  | { kind: 'other' };

/** See `place`: the guard of a placed session's move to `active`. */
const INTO_ACTIVE: SessionState[] = ['scheduling', 'provisioning', 'idle', 'suspending', 'resuming'];

export class Placer {
  private readonly compiled = new Map<string, { updatedAt: number; compiled: CompiledPool }>();

  constructor(
    private readonly ctx: ServerContext,
    private readonly runners: RunnerControl,
    private readonly catalog: SessionCatalog,
    private readonly lifecycle: TaskLifecycle,
    private readonly commands: TaskCommands,
    /** Health of providers as last probed (`null` = reachable). */
    private readonly providerHealth: ReadonlyMap<string, string | null>,
    /** Asks the assigner for a pass. */
    private readonly kick: () => void,
  ) {}

  /** Forgets compiled pools (after a pool change). */
  clearCompiled(): void {
    this.compiled.clear();
  }

  private compile(pool: Pool): CompiledPool {
    const hit = this.compiled.get(pool.id);
    if (hit && hit.updatedAt === pool.updatedAt) return hit.compiled;
    const compiled = compilePool(pool, providerClassView(pool.providerId, this.ctx.providers));
    this.compiled.set(pool.id, { updatedAt: pool.updatedAt, compiled });
    return compiled;
  }

  /**
   * Runs the pure scheduler for a request of the org over that org's live pools only (from a
   * pass's snapshot when given): a session is never placed on, nor told about, another org's pool.
   */
  async evaluate(org: OrgScope, projectId: string, request: SessionRequest, snap?: PassSnapshot): Promise<Decision> {
    const { store } = this.ctx;
    const own = (snap ? snap.catalog : await this.catalog.view()).org(org.orgId);
    const card = own.cards.find((x) => x.name === request.agent) ?? (await this.catalog.agentCard(org, request.agent));
    let profile: Profile | null = null;
    if (request.profile)
      profile =
        own.profiles.find((x) => x.name === request.profile) ?? (await this.catalog.profile(org, request.profile));
    // A pool given to a project takes only that project's sessions.
    const pools = own.pools.some((p) => p.projectId)
      ? own.pools.filter((p) => !p.projectId || p.projectId === projectId)
      : own.pools;
    let grouped: NonNullable<PassSnapshot['grouped']>;
    if (snap) {
      snap.grouped ??= groupLive(snap.live);
      grouped = snap.grouped;
    } else grouped = groupLive(await store.runners.liveViews());
    const { byPool, byProvider } = grouped;
    // Providers that need a credential this org lacks (the store is read only when one has no env fallback).
    const noCredential = await this.ctx.credentials.missing(org.orgId, new Set(pools.map((p) => p.providerId)));
    const candidates: PoolCandidate[] = pools.map((p) => {
      // A nested sandbox: only runners that have its runtime (pools whose runners join), else the verdict.
      const nested = sandboxPlacement(p, byPool.get(p.id) ?? []);
      return {
        pool: this.compile(p),
        capabilities: this.ctx.providers.get(p.providerId)?.capabilities,
        providerUnavailable: this.providerHealth.get(p.providerId) ?? null,
        credentialMissing: noCredential.has(p.providerId) ? credentialMissingDetail(p.providerId) : null,
        // Warm runners still starting count toward max_runners (they are not idle, so not assignable).
        runners: nested.runners,
        providerLiveRunners: byProvider.get(p.providerId) ?? 0,
        sandboxMissing: nested.missing,
        nestedEgress: nested.egress,
      };
    });
    return decide(placementRequest(org.orgId, request, card, profile), candidates);
  }

  toPlacement(d: Decision): Placement {
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
  async place(session: Session, firstTask: QueuedTaskRef | null, snap: PassSnapshot): Promise<PlaceOutcome> {
    const { store } = this.ctx;
    const decision = await this.evaluate(orgScope(session.orgId), session.projectId, session.request, snap);
    const placement = this.toPlacement(decision);
    const chosen = decision.chosen;
    if (!chosen) {
      if (!session.waitForCapacity) {
        await this.lifecycle.failSession(session, `no eligible pool: ${placement.summary}`, placement);
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
    const pool = snap.pools.find((p) => p.id === chosen.poolId && p.orgId === session.orgId);
    if (!pool) return { kind: 'other' };
    const placed = { pool_id: pool.id, placement: JSON.stringify(placement), state_reason: null };
    const placedEvent = { pool: pool.name, runnerId: chosen.runnerId, action: chosen.action };
    switch (chosen.action) {
      case 'assign': {
        const runnerId = chosen.runnerId!;
        if (firstTask) {
          // The claim, the session's move to active and its event commit together.
          const claimed = await this.claimAnd(runnerId, firstTask.id, session.id, async (tx) => {
            // Every state the table lets into `active` but `active` itself (a session being placed is not).
            await tx.sessions.transition(session.id, 'active', { ...placed, runner_id: runnerId }, INTO_ACTIVE);
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
          await this.commands.sendAssignment(claimed, {
            session: active,
            card: this.cardFrom(snap, session),
            claimed: true,
          });
          emitTask(this.ctx, claimed);
          emitSession(this.ctx, active);
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
          await emitSessionById(this.ctx, session.id);
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
          snap.live.push({ ...runner, sandboxRuntimes: null });
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
          if (s) await this.lifecycle.failSession(s, `provisioning on pool ${pool.name} failed: ${err.message}`);
          return { kind: 'other' };
        }
        await emitSessionById(this.ctx, session.id);
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
  async recordWaits(waits: WaitRecord[]): Promise<void> {
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
    for (const s of written) emitSession(this.ctx, s);
  }

  /**
   * Claims `taskId` for `runnerId` (compare-and-set, see RunnerRepo.claim) and runs `then` in the
   * same transaction: both commit or neither does. Null when the claim was lost.
   */
  async claimAnd(
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
  cardFrom(snap: PassSnapshot, session: Session): AgentCard | undefined {
    return snap.catalog.org(session.orgId).cards.find((c) => c.name === session.agent);
  }
}
