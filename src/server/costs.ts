/**
 * @module The cost ledger's read side: one row per runner that stopped (wall-clock seconds and
 * the provider's billing model), written by RunnerService when a runner is terminated, and one per
 * agent task that reported tokens or a cost (`agent-reported`, with the agent's own figures).
 * The rows are read through the store's cost repository (src/store/repos/costs.ts).
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
    async ({ query, org }) => {
      const pool = query.pool ? await ctx.store.pools.get(org, query.pool) : null;
      const items = await ctx.store.costs.list(org, {
        ...(query.session ? { sessionId: query.session } : {}),
        ...(query.pool ? { poolId: pool?.id ?? query.pool } : {}),
        limit: query.limit,
      });
      const totals: Record<string, number> = {};
      for (const i of items) totals[i.billingModel] = (totals[i.billingModel] ?? 0) + i.seconds;
      return { items, totalSecondsByBillingModel: totals };
    },
  );
}
