/**
 * @module Provisioning a managed runner: its row and a one-time registration token, then the
 * pool's provider starts the sandbox (or restores a suspended one). `max_runners` is enforced in
 * the same transaction as the new row (PoolFull).
 */
import { Conflict, ProviderUnavailable } from '../core/errors.js';
import { newId } from '../core/ids.js';
import type { Pool } from '../core/types.js';
import { providerUnavailableReason } from '../providers/registry.js';
import type { Runner, Session } from '../store/records.js';
import type { ServerContext } from './context.js';
import { buildSandboxSpec } from './sandbox-spec.js';

/**
 * A managed pool already has `max_runners` live runners: `provision` refuses to start another.
 * The count and the new row are one transaction, so the assigner and the autoscaler provisioning
 * at the same moment can never take a pool past its maximum.
 */
export class PoolFull extends Conflict {
  constructor(pool: Pool) {
    super(`pool ${pool.name} already has its max_runners (${pool.maxRunners}) live runners`, {
      hint: 'wait for one to finish, or raise max_runners with `mctl pools update`',
    });
  }
}

/**
 * Creates a runner row and a one-time registration token bound to it, then asks the pool's
 * provider to start the sandbox. Throws ProviderUnavailable when the pool's provider is not
 * configured here (nothing is written), PoolFull, or the provider's error (the caller fails the
 * session with it as the reason).
 */
export async function provisionRunner(ctx: ServerContext, pool: Pool, session: Session | null): Promise<Runner> {
  const { store } = ctx;
  const provider = ctx.providers.get(pool.providerId);
  if (!provider) {
    const configured = [...ctx.providers.keys()];
    const why = providerUnavailableReason(pool.providerId, ctx.providers, null);
    throw new ProviderUnavailable(
      `pool ${pool.name}: ${why ?? `provider ${pool.providerId} is not configured on this server`} (configured: ${configured.join(', ') || 'none'})`,
      {
        hint: `configure providers.${pool.providerId} in the server config, or point the pool at a configured provider`,
        details: { providerId: pool.providerId, pool: pool.name, configured },
      },
    );
  }
  const id = newId('run');
  const now = Date.now();
  const runner = await store.transaction(async (tx) => {
    if (pool.maxRunners !== null && (await tx.runners.countLive(pool.id)) >= pool.maxRunners) throw new PoolFull(pool);
    return tx.runners.insert({
      id,
      org_id: pool.orgId,
      pool_id: pool.id,
      session_id: session?.id ?? null,
      name: `${pool.name}-${id.slice(-8)}`,
      state: 'provisioning',
      labels: '{}',
      credential_hash: null,
      provider_id: pool.providerId,
      handle: null,
      agent_version: null,
      draining: 0,
      last_heartbeat_at: null,
      lease_expires_at: now + Math.max(ctx.config.leaseTimeoutMs, 120_000),
      idle_since: null,
      created_at: now,
      updated_at: now,
      stopped_at: null,
    });
  });
  // Said on the bus (metrics time provisioning from here; the dashboard lists the runner at once).
  ctx.bus.emit('runner:updated', { runner });
  const { token } = await store.auth.createRegistrationToken({
    orgId: pool.orgId,
    poolId: pool.id,
    kind: 'one-time',
    runnerId: id,
    expiresAt: now + 15 * 60_000,
    description: `managed runner ${id}`,
  });
  ctx.redactor?.add(token);
  try {
    const spec = await buildSandboxSpec(ctx, pool, session, { runnerId: id, registrationToken: token });
    const restoreFrom = session?.suspend?.handle;
    const handle =
      restoreFrom && provider.restore ? await provider.restore(restoreFrom, spec) : await provider.provision(spec);
    await store.runners.update(id, { handle: JSON.stringify(handle) });
    ctx.log.info({ runnerId: id, pool: pool.name, externalId: handle.externalId }, 'runner provisioned');
    return (await store.runners.get(id)) ?? runner;
  } catch (e: unknown) {
    await store.runners.transition(id, 'terminated', { stopped_at: Date.now() });
    const ended = await store.runners.get(id);
    if (ended) ctx.bus.emit('runner:updated', { runner: ended });
    throw e;
  }
}
