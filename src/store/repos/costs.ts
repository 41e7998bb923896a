/**
 * @module The cost ledger (`cost_events`): one row per runner that stopped (wall-clock seconds and
 * the provider's billing model), and one per agent task that reported tokens or a cost
 * (`agent-reported`, written by TaskRepo.addAgentCost inside the task's end transaction). Reads
 * are newest first.
 */
import type { Kysely } from 'kysely';
import { newId } from '../../core/ids.js';
import type { Runner } from '../records.js';
import type { Database } from '../schema.js';
import { inScope, type OrgScope } from '../scope.js';

/** One ledger row as the API shows it. */
export interface CostEvent {
  id: string;
  runnerId: string;
  sessionId: string | null;
  poolId: string;
  providerId: string;
  billingModel: string;
  startedAt: number;
  endedAt: number;
  seconds: number;
  /** Agent-reported events (one per task): the agent's own token counts and cost. */
  taskId?: string;
  inputTokens?: number;
  outputTokens?: number;
  cacheReadTokens?: number;
  cacheWriteTokens?: number;
  costUsd?: number | null;
  model?: string | null;
  /** Runner events: what the sandbox was given, as its provider recorded it (`{ vcpus, memoryMb }`, ...). */
  resources?: Record<string, unknown>;
}

export class CostRepo {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * The cost event of a runner that stopped at `endedAt`: wall-clock seconds since it was created,
   * less `unbilledMs` (time its provider does not bill, e.g. paused), and the resources its sandbox
   * was given when the provider recorded them.
   */
  async addRunnerCost(
    runner: Pick<Runner, 'id' | 'orgId' | 'sessionId' | 'poolId' | 'providerId' | 'createdAt'>,
    endedAt: number,
    billingModel: string,
    resources: Record<string, unknown> | null = null,
    unbilledMs = 0,
  ): Promise<void> {
    await this.db
      .insertInto('cost_events')
      .values({
        id: newId('cst'),
        org_id: runner.orgId,
        runner_id: runner.id,
        session_id: runner.sessionId,
        pool_id: runner.poolId,
        provider_id: runner.providerId,
        billing_model: billingModel,
        started_at: runner.createdAt,
        ended_at: endedAt,
        seconds: Math.max(0, (endedAt - runner.createdAt - unbilledMs) / 1000),
        created_at: Date.now(),
        ...(resources ? { resources: JSON.stringify(resources) } : {}),
      })
      .execute();
  }

  /** An org's cost events, newest first, optionally of one session or pool. */
  list(scope: OrgScope, filter: { sessionId?: string; poolId?: string; limit: number }): Promise<CostEvent[]> {
    return inScope(scope, () => this.query(scope.orgId, filter));
  }

  private async query(
    orgId: string,
    filter: { sessionId?: string; poolId?: string; limit: number },
  ): Promise<CostEvent[]> {
    let q = this.db.selectFrom('cost_events').selectAll().where('org_id', '=', orgId);
    if (filter.sessionId) q = q.where('session_id', '=', filter.sessionId);
    if (filter.poolId) q = q.where('pool_id', '=', filter.poolId);
    const rows = await q.orderBy('ended_at', 'desc').limit(filter.limit).execute();
    return rows.map((r) => ({
      id: r.id,
      runnerId: r.runner_id,
      sessionId: r.session_id,
      poolId: r.pool_id,
      providerId: r.provider_id,
      billingModel: r.billing_model,
      startedAt: Number(r.started_at),
      endedAt: Number(r.ended_at),
      seconds: Number(r.seconds),
      ...(r.resources ? { resources: JSON.parse(r.resources) as Record<string, unknown> } : {}),
      ...(r.task_id
        ? {
            taskId: r.task_id,
            inputTokens: Number(r.input_tokens ?? 0),
            outputTokens: Number(r.output_tokens ?? 0),
            cacheReadTokens: Number(r.cache_read_tokens ?? 0),
            cacheWriteTokens: Number(r.cache_write_tokens ?? 0),
            costUsd: r.cost_usd === null || r.cost_usd === undefined ? null : Number(r.cost_usd),
            model: r.model ?? null,
          }
        : {}),
    }));
  }
}
