/**
 * @module Runner registration on the server: a registration token exchanged for a runner
 * credential bound to a runner id (POST /v1/runners/register, see RunnerService.register).
 */
import { hashSecret, newId, newSecret } from '../core/ids.js';
import { matchSelector, parseSelector } from '../core/selector.js';
import type { RegisterErrorCode, RegisterRequest } from '../protocol/messages.js';
import type { ServerContext } from './context.js';

const regError = (status: number, code: RegisterErrorCode, message: string) => ({ status, body: { code, message } });

/**
 * Exchanges a registration token for a runner credential: a managed runner (its row was created
 * when it was provisioned) moves to `connecting`; a pool or external runner gets a new row, if its
 * labels satisfy the pool's selector. A refused token gets a specific code, never an opaque 404.
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
  const labels = { ...pool.labels, ...req.labels };
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
  await store.runners.insert({
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
  ctx.log.info({ runnerId: id, pool: pool.name }, 'runner registered');
  return {
    status: 200,
    body: { runnerId: id, credential, poolName: pool.name, heartbeatIntervalMs: ctx.config.heartbeatIntervalMs },
  };
}
