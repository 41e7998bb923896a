/**
 * @module The cost ledger's read side: one row per runner that stopped (wall-clock seconds and
 * the provider's billing model), written by RunnerService when a runner is terminated, and one per
 * agent task that reported tokens or a cost (`agent-reported`, with the agent's own figures).
 */
import { z } from 'zod';
import type { Api } from './api.js';
import type { ServerContext } from './context.js';

const CostQuery = z.strictObject({
  session: z.string().optional(),
  pool: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export function costRoutes(ctx: ServerContext, api: Api): void {
  api.route(
    'GET',
    '/v1/costs',
    { summary: 'Cost events, newest first, with totals by billing model', tag: 'costs', query: CostQuery },
    async ({ query }) => {
      let q = ctx.store.db.selectFrom('cost_events').selectAll().where('org_id', '=', ctx.orgId);
      if (query.session) q = q.where('session_id', '=', query.session);
      if (query.pool) {
        const pool = await ctx.store.pools.get(query.pool, ctx.orgId);
        q = q.where('pool_id', '=', pool?.id ?? query.pool);
      }
      const rows = await q.orderBy('ended_at', 'desc').limit(query.limit).execute();
      const items = rows.map((r) => ({
        id: r.id,
        runnerId: r.runner_id,
        sessionId: r.session_id,
        poolId: r.pool_id,
        providerId: r.provider_id,
        billingModel: r.billing_model,
        startedAt: Number(r.started_at),
        endedAt: Number(r.ended_at),
        seconds: Number(r.seconds),
        // Agent-reported events (one per task): the agent's own token counts and cost.
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
      const totals: Record<string, number> = {};
      for (const i of items) totals[i.billingModel] = (totals[i.billingModel] ?? 0) + i.seconds;
      return { items, totalSecondsByBillingModel: totals };
    },
  );
}
