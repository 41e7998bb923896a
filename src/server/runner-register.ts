/**
 * @module Runner registration on the server: a registration token exchanged for a runner
 * credential bound to a runner id (POST /v1/runners/register, see RunnerService.register).
 */
import { hashSecret, newId, newSecret } from '../core/ids.js';
import { matchSelector, parseSelector } from '../core/selector.js';
import type { RegisterErrorCode, RegisterRequest } from '../protocol/messages.js';
import type { ServerContext } from './context.js';
import { dialInRefusal } from './dial-in.js';

const regError = (status: number, code: RegisterErrorCode, message: string) => ({ status, body: { code, message } });

/** The first label a runner declares with a value other than its pool's, or null (keys in sorted order). */
export function labelConflict(
  poolLabels: Record<string, string>,
  runnerLabels: Record<string, string>,
): { key: string; pool: string; runner: string } | null {
  for (const key of Object.keys(runnerLabels).sort()) {
    const own = poolLabels[key];
    const declared = runnerLabels[key] as string;
    if (own !== undefined && own !== declared) return { key, pool: own, runner: declared };
  }
  return null;
}

/**
 * Exchanges a registration token for a runner credential: a managed runner (its row was created
 * when it was provisioned) moves to `connecting`; a pool or external runner gets a new row, if its
 * labels agree with the pool's own (a runner adds labels, never overrides one: 403
 * `labels_rejected`), satisfy the pool's selector (which can forbid a label: `!team`), and the pool
 * is under its `max_runners` (409 `pool_full`). A refused token gets a specific code, never an
 * opaque 404.
 */
export async function registerRunner(
  ctx: ServerContext,
  req: RegisterRequest,
): Promise<{ status: number; body: unknown }> {
  const { store } = ctx;
  const used = await store.auth.consumeRegistrationToken(req.token);
  if (!used.ok) {
    switch (used.reason) {
      case 'unknown':
        return regError(
          401,
          'token_unknown',
          'registration token not recognised: check it was copied whole, or create one with `mctl runners tokens create --pool NAME`',
        );
      case 'expired':
        return regError(
          401,
          'token_expired',
          `registration token ${used.token?.id} expired at ${new Date(used.token?.expiresAt ?? 0).toISOString()}: create a new one with \`mctl runners tokens create\``,
        );
      case 'revoked':
        return regError(
          401,
          'token_revoked',
          `registration token ${used.token?.id} was revoked at ${new Date(used.token?.revokedAt ?? 0).toISOString()}: ask an admin for a new one`,
        );
      case 'used':
        return regError(401, 'token_used', `registration token ${used.token?.id} is one-time and was already used`);
    }
  }
  const token = used.token;
  const pool = await store.pools.byId(token.poolId);
  if (!pool) return regError(401, 'token_unknown', 'the pool of this registration token no longer exists');
  if (req.pool && req.pool !== pool.name && req.pool !== pool.id)
    return regError(403, 'pool_mismatch', `this token is for pool ${pool.name}, not ${req.pool}`);
  const credential = newSecret('mrc');
  const now = Date.now();
  if (token.runnerId) {
    // A managed runner: its row was created when it was provisioned.
    const ok = await store.runners.transition(token.runnerId, 'connecting', {
      credential_hash: hashSecret(credential),
      agent_version: req.agentVersion,
      lease_expires_at: now + ctx.config.leaseTimeoutMs,
    });
    if (!ok) return regError(401, 'token_used', `runner ${token.runnerId} is no longer waiting to register`);
    return {
      status: 200,
      body: {
        runnerId: token.runnerId,
        credential,
        poolName: pool.name,
        heartbeatIntervalMs: ctx.config.heartbeatIntervalMs,
      },
    };
  }
  // The pool's labels bound its runners: a runner may add labels, never change one its pool sets.
  const conflict = labelConflict(pool.labels, req.labels);
  if (conflict)
    return regError(
      403,
      'labels_rejected',
      `pool ${pool.name} sets ${conflict.key}=${conflict.pool}; this runner declared ${conflict.key}=${conflict.runner}, and a runner cannot override its pool's labels (drop ${conflict.key} from --labels, or join the pool that has it)`,
    );
  const labels = { ...req.labels, ...pool.labels };
  if (pool.selector) {
    const m = matchSelector(parseSelector(pool.selector), labels);
    if (!m.ok)
      return regError(
        403,
        'labels_rejected',
        `pool ${pool.name} requires runners matching "${pool.selector}": ${m.detail}`,
      );
  }
  const id = newId('run');
  // Room under a pool-mode pool's max_runners is checked in the transaction that adds the runner.
  const full = await store.transaction(async (tx) => {
    const refusal = await dialInRefusal(tx, pool);
    if (refusal) return refusal;
    await tx.runners.insert({
      id,
      org_id: pool.orgId,
      pool_id: pool.id,
      session_id: null,
      name: req.name,
      state: 'connecting',
      labels: JSON.stringify(req.labels),
      credential_hash: hashSecret(credential),
      provider_id: pool.providerId,
      handle: null,
      agent_version: req.agentVersion,
      draining: 0,
      last_heartbeat_at: now,
      lease_expires_at: now + ctx.config.leaseTimeoutMs,
      idle_since: null,
      created_at: now,
      updated_at: now,
      stopped_at: null,
    });
    return null;
  });
  if (full) return regError(409, 'pool_full', full);
  ctx.log.info({ runnerId: id, pool: pool.name }, 'runner registered');
  return {
    status: 200,
    body: { runnerId: id, credential, poolName: pool.name, heartbeatIntervalMs: ctx.config.heartbeatIntervalMs },
  };
}
