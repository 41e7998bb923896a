/**
 * @module The `SandboxSpec` a managed runner is provisioned with: what its session asked for
 * (the profile's resources under the session's own, the session's env and image, the task
 * timeout), the pool's sandbox and suspend config, and the runner's boot values. Also the check
 * that a pool lets a session run its own `image`, at request time (a 400 naming each pool's
 * reason) and again at provision time.
 */
import { effectiveEgress } from '../core/egress.js';
import { InvalidRequest } from '../core/errors.js';
import { parseQuantity } from '../core/quantity.js';
import type { Pool, Resources } from '../core/types.js';
import { findProvider, type ProvidersConfig } from '../providers/registry.js';
import type { SandboxSpec } from '../providers/types.js';
import { orgScope } from '../store/index.js';
import type { Session, SessionRequest } from '../store/records.js';
import { taskTimeout } from './agents.js';
import type { ServerContext } from './context.js';
import { tunnelSecret } from './tunnel-dialer.js';

/** Why `pool` does not let a session run `image`, or null when it does. */
export function imageRefusal(pool: Pool, image: string, providers: ProvidersConfig): string | null {
  const d = findProvider(pool.providerId);
  if (!d?.imagePolicy) return `pool ${pool.name}: provider ${pool.providerId} does not run images`;
  const reason = d.imagePolicy(providers[d.id] ?? d.config.parse({}), pool.sandboxConfig, image);
  return reason === null ? null : `pool ${pool.name}: ${reason}`;
}

/**
 * A request with an `image`, narrowed to the pools that allow it: unchanged when every pool it
 * could use allows the image; pinned to the one pool (or the one provider) that does; refused
 * (InvalidRequest, nothing written) when none does or the choice is ambiguous.
 */
export function narrowForImage(
  request: SessionRequest,
  pools: readonly Pool[],
  providers: ProvidersConfig,
): SessionRequest {
  const image = request.image;
  if (image === undefined) return request;
  const candidates = pools.filter(
    (p) =>
      p.active &&
      (request.pool === null || p.name === request.pool || p.id === request.pool) &&
      (request.provider === null || p.providerId === request.provider),
  );
  const verdicts = candidates.map((pool) => ({ pool, refusal: imageRefusal(pool, image, providers) }));
  const ok = verdicts.filter((v) => v.refusal === null).map((v) => v.pool);
  const hint =
    'a pool admits session images with sandbox_config.allowedImages (docs/providers/docker.md); name it with --pool';
  if (ok.length === 0)
    throw new InvalidRequest(
      `image: no pool this session could use lets it run ${image}: ${verdicts.map((v) => v.refusal).join('; ') || 'no active pool'}`,
      { hint },
    );
  if (ok.length === candidates.length) return request;
  if (ok.length === 1) return { ...request, pool: ok[0]!.name };
  const providerIds = new Set(ok.map((p) => p.providerId));
  if (providerIds.size === 1 && request.provider === null) return { ...request, provider: ok[0]!.providerId };
  throw new InvalidRequest(
    `image: only pools ${ok.map((p) => p.name).join(', ')} let this session run ${image}; name one with pool`,
    { hint },
  );
}

/**
 * The request of a session create with the body's `image` and `resources` added (resources
 * checked), narrowed to the pools that allow the image (see {@link narrowForImage}).
 */
export function withImageAndResources(
  body: { image?: string | undefined; resources?: Resources | undefined },
  pools: readonly Pool[],
  providers: ProvidersConfig,
  request: SessionRequest,
): SessionRequest {
  if (body.resources) specResources(body.resources, null);
  return narrowForImage(
    {
      ...request,
      ...(body.image ? { image: body.image } : {}),
      ...(body.resources ? { resources: body.resources } : {}),
    },
    pools,
    providers,
  );
}

/** `cpu` as a decimal count (`500m` → `0.5`), `memory` in MiB (`32Gi` → 32768); throws naming the field. */
function specResources(r: Resources, timeoutMs: number | null): NonNullable<SandboxSpec['resources']> {
  const out: NonNullable<SandboxSpec['resources']> = {};
  if (r.cpu !== undefined) {
    const cpu = parseQuantity(r.cpu);
    if (cpu === null || cpu <= 0)
      throw new InvalidRequest(`resources.cpu: ${JSON.stringify(r.cpu)} is not a CPU count (e.g. 2, 0.5, 500m)`);
    out.cpu = String(cpu);
  }
  if (r.memory !== undefined) {
    const bytes = parseQuantity(r.memory);
    if (bytes === null || bytes <= 0)
      throw new InvalidRequest(`resources.memory: ${JSON.stringify(r.memory)} is not a size (e.g. 512Mi, 4Gi, 4GB)`);
    out.memoryMB = Math.max(1, Math.round(bytes / 2 ** 20));
  }
  if (r.gpu !== undefined) out.gpu = r.gpu;
  if (timeoutMs !== null) out.timeoutSec = Math.ceil(timeoutMs / 1000);
  return out;
}

/** The spec of runner `runnerId` for `pool` (and `session`, null for a warm runner). */
export async function buildSandboxSpec(
  ctx: ServerContext,
  pool: Pool,
  session: Session | null,
  boot: { runnerId: string; registrationToken: string },
): Promise<SandboxSpec> {
  const req = session?.request;
  let resources: SandboxSpec['resources'];
  if (req) {
    const [profile, card] = await Promise.all([
      req.profile
        ? ctx.store.pools.profiles(orgScope(pool.orgId)).then((all) => all.find((p) => p.name === req.profile))
        : null,
      ctx.store.pools.agentCards(orgScope(pool.orgId)).then((all) => all.find((c) => c.name === req.agent)),
    ]);
    const timeoutMs = card
      ? taskTimeout(card, {
          sessionTimeoutMs: req.taskTimeoutMs ?? null,
          profileTimeoutMs: profile?.taskTimeoutMs ?? null,
          defaultTimeoutMs: ctx.config.taskTimeoutMs,
        })
      : null;
    resources = specResources({ ...profile?.resources, ...req.resources }, timeoutMs);
    if (req.image !== undefined) {
      const refused = imageRefusal(pool, req.image, ctx.config.providers);
      if (refused !== null) throw new InvalidRequest(`image: ${refused}`);
    }
  }
  const egress = effectiveEgress(pool.egress, req?.egress, findProvider(pool.providerId)?.capabilities);
  return {
    ...(egress === undefined ? {} : { egress }),
    projectId: session?.projectId ?? pool.projectId ?? ctx.defaultProjectId,
    orgId: pool.orgId,
    registrationToken: boot.registrationToken,
    // The session's env is not the runner's: it reaches each task in its assignment, opened there
    // (./session-secrets.ts), so no provider writes it into a container's config or a process's environ.
    env: {},
    ...(req?.image !== undefined ? { image: req.image } : {}),
    ...(resources !== undefined && Object.keys(resources).length ? { resources } : {}),
    config: pool.sandboxConfig,
    suspend: { strategy: pool.suspendConfig.strategy, fallback: pool.suspendConfig.fallback },
    runnerId: boot.runnerId,
    poolId: pool.id,
    poolName: pool.name,
    sessionId: session?.id ?? null,
    tunnelSecret: tunnelSecret(ctx, boot.runnerId),
  };
}
