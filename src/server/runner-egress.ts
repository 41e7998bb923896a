/**
 * @module Egress refusals a runner reports (`egress.denied`): the egress proxy of a task in a
 * nested sandbox runs on the runner, which batches what it refused; here each batch goes to the
 * same ledger as the docker provider's proxies (src/server/egress-events.ts: counts, the
 * `egress_denied` session event, a warning in the server log). A report for a task that is not
 * this runner's is dropped.
 */
import type { EgressLedger } from '../egress/ledger.js';
import type { RunnerMessage } from '../protocol/messages.js';
import type { ServerContext } from './context.js';

export async function recordRunnerDenials(
  ctx: ServerContext,
  ledger: EgressLedger | undefined,
  runnerId: string,
  msg: Extract<RunnerMessage, { type: 'egress.denied' }>,
): Promise<void> {
  if (!ledger) return;
  const task = await ctx.store.tasks.get(msg.taskId);
  if (!task || task.runnerId !== runnerId) {
    ctx.log.warn({ runnerId, taskId: msg.taskId }, 'egress denials reported for a task that is not this runner’s');
    return;
  }
  const runner = await ctx.store.runners.get(runnerId);
  if (!runner) return;
  const owner = { orgId: runner.orgId, sessionId: task.sessionId, poolId: runner.poolId, runnerId };
  for (const d of msg.denials)
    ledger.denied(owner, { host: d.host, port: d.port, method: d.method, at: d.at }, d.count);
}
