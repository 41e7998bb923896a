/**
 * @module Runner credentials after registration: who a presented credential belongs to, its
 * rotation on every hello, and the refusals a replayed credential meets.
 *
 * Rotation (crash-safe): at hello the server issues a new credential C2 and keeps it pending
 * beside the current C1 (`runners.next_credential_hash`). The runner saves C2, then sends
 * `credential.saved`; the server makes C2 current and C1 stops working. If the runner crashes
 * before saving, it still holds C1, which still works (the next hello issues a fresh C3 over C2).
 * If it crashes after saving but before the confirmation arrived, it presents C2: presenting the
 * pending credential proves it was saved, so C2 is promoted then. Either way it is never locked
 * out, and once a rotation is confirmed a copy of the old credential is worthless.
 *
 * One live connection per runner: a second connection with a runner's credential while the first
 * is live (it sent a frame within the liveness window) is refused with close code 4010 and
 * recorded (`runner:refused` on the event bus, a warning in the log); the first keeps its
 * connection and its task. A first connection that has gone silent past the window (a dropped
 * network the server has not noticed) is replaced, so a real runner coming back is not kept out.
 */
import { newSecret } from '../core/ids.js';
import type { Runner } from '../store/records.js';
import type { ServerContext } from './context.js';
import type { RunnerRefusal } from './events.js';

export type { RunnerRefusal } from './events.js';

/** Close code: another live connection holds this runner's credential. */
export const CLOSE_CREDENTIAL_IN_USE = 4010;

/** Publishes a refusal: the event bus (`runner:refused`, which the audit log records) and the server log. */
export function recordRefusal(ctx: ServerContext, r: Omit<RunnerRefusal, 'at'>): void {
  const event: RunnerRefusal = { ...r, at: Date.now() };
  ctx.log.warn(
    { runnerId: r.runnerId, poolId: r.poolId, code: r.code, remote: r.remote, kind: r.kind },
    `runner refused: ${r.reason}`,
  );
  ctx.bus.emit('runner:refused', event);
}

/** The runner a credential belongs to (its current one, or its pending one, which then becomes current). */
export async function runnerForCredential(ctx: ServerContext, credential: string): Promise<Runner | null> {
  const runners = ctx.store.runners;
  const r = (await runners.findByCredential(credential)) ?? (await runners.promoteNextCredential(credential));
  if (!r || r.state === 'terminated') return null;
  return r;
}

/** Issues the rotated credential sent in `welcome` (pending until the runner confirms it saved it). */
export async function rotateCredential(ctx: ServerContext, runnerId: string): Promise<string | null> {
  const next = newSecret('mrc');
  return (await ctx.store.runners.offerNextCredential(runnerId, next)) ? next : null;
}

/**
 * How long after its last frame a connection still counts as live: two heartbeats and a second,
 * never longer than the lease (by then the server has given up on it anyway).
 */
export function livenessWindowMs(ctx: Pick<ServerContext, 'config'>): number {
  const { heartbeatIntervalMs, leaseTimeoutMs } = ctx.config;
  return Math.min(leaseTimeoutMs, 2 * heartbeatIntervalMs + 1000);
}
