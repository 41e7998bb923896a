/**
 * @module Fencing a runner the server gives up on: before its task is declared lost (and retried),
 * the provider stops what the sandbox still runs (`SandboxProvider.fence`), so the old attempt is
 * dead before a retry can start. A provider without `fence` (pool, external machines) relies on the
 * agent fencing itself (src/agent/fence.ts). A failure is logged and the loss goes on.
 */
import { toError } from '../core/errors.js';
import type { Runner } from '../store/records.js';
import type { ServerContext } from './context.js';

export async function fenceSandbox(ctx: ServerContext, runner: Runner): Promise<void> {
  const provider = ctx.providers.get(runner.providerId);
  if (!runner.handle || !provider?.fence) return;
  try {
    await provider.fence(runner.handle);
  } catch (e: unknown) {
    ctx.log.error({ err: toError(e), runnerId: runner.id }, 'stopping the sandbox of a lost runner failed');
  }
}
