/**
 * @module The runner routes: list (by pool and state; terminated ones only with `all`) and get.
 * Registration tokens, external enrolment and drain are in ../tokens.ts.
 */
import { ListRunnersQuery } from '../../api/schemas.js';
import { NotFound } from '../../core/errors.js';
import type { Api } from '../api.js';
import type { ServerContext } from '../context.js';

export function runnerRoutes(api: Api, ctx: ServerContext): void {
  api.route(
    'GET',
    '/v1/runners',
    { summary: 'List runners', tag: 'runners', query: ListRunnersQuery },
    async ({ query, org }) => {
      const pool = query.pool ? await ctx.store.pools.get(org, query.pool) : null;
      if (query.pool && !pool) throw new NotFound('pool', query.pool);
      const states = query.state;
      let items = await ctx.store.runners.listIn(org, {
        ...(pool ? { poolId: pool.id } : {}),
        ...(states ? { states } : {}),
      });
      if (!query.all && !states) items = items.filter((r) => r.state !== 'terminated');
      return { items: items.slice(-query.limit) };
    },
  );
  api.route('GET', '/v1/runners/:id', { summary: 'Get a runner', tag: 'runners' }, async ({ params, org }) => {
    const r = await ctx.store.runners.getIn(org, params.id!);
    if (!r) throw new NotFound('runner', params.id!, 'list runners with `mctl runners list`');
    return r;
  });
}
