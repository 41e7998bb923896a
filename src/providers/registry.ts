/**
 * @module The providers Marionette knows: one descriptor per provider class, listed once in
 * {@link PROVIDERS}. Pools, profiles, `/v1/providers`, the config loader and the scheduler read
 * this list; nothing else names a provider id.
 *
 * A provider is one folder, `src/providers/<id>/`, whose `index.ts` exports a descriptor
 * (`defineProvider`, src/providers/descriptor.ts):
 *
 * ```ts
 * export const acme = defineProvider({
 *   id: 'acme',                      // what pools name in `provider:`
 *   displayName: 'Acme Cloud',
 *   capabilities: { ... },           // its row of the seed's capability matrix
 *   substrate: { runtimeKinds, requirementKinds }, // what its pools provide by default
 *   suspend: { strategy, fallback, minDurationMs, maxDurationMs }, // its pools' default suspend config
 *   poolMode: 'managed',             // or 'pool' / 'external': runners dial in with a token
 *   config: z.strictObject({ ... }), // the `providers.acme` section of marionette.yaml
 *   async create(config, ctx) {      // absent while not implemented
 *     const { AcmeProvider } = await import('./provider.js'); // loaded only by the server
 *     return new AcmeProvider(config, ctx);
 *   },
 * });
 * ```
 *
 * Optional: `onServerHost` (runs on the server's machine: the `local`/`host-session` auth modes
 * may use it), `imagePolicy` (whether a pool lets a session run its own image), `pools` (pools
 * declared inside the provider's section), `requiresConfig` (built only when its section exists,
 * e.g. a cluster with no default to reach). Then one line in {@link PROVIDERS}.
 *
 * A descriptor without `create` is listed (its row is in the matrix, pools may name it) but its
 * pools are `unavailable` ("not implemented in this version") and a `providers.<id>` section for
 * it stops the server with a clear error. `create` imports the implementation lazily so `mctl`
 * and the config loader never load a provider SDK.
 */

import type { ProviderClassView } from '../core/compiled-pool.js';
import { parseDuration } from '../core/duration.js';
import { InvalidRequest } from '../core/errors.js';
import type { SuspendConfig } from '../core/types.js';
import { daytona } from './daytona/index.js';
import type { ProviderContext, ProviderDescriptor, ProviderSuspendConfig } from './descriptor.js';
import { docker } from './docker/index.js';
import { e2b } from './e2b/index.js';
import { external } from './external/index.js';
import { firecracker } from './firecracker/index.js';
import { kubernetes } from './kubernetes/index.js';
import { local } from './local/index.js';
import { modal } from './modal/index.js';
import { pool } from './pool/index.js';
import type { SandboxProvider } from './types.js';
import { vercel } from './vercel/index.js';

export type { ProviderContext, ProviderDescriptor } from './descriptor.js';

/** Every provider class, in the order `/v1/providers` lists them. */
export const PROVIDERS: readonly ProviderDescriptor[] = [
  local,
  docker,
  kubernetes,
  e2b,
  daytona,
  modal,
  vercel,
  firecracker,
  pool,
  external,
];

const BY_ID: ReadonlyMap<string, ProviderDescriptor> = new Map(PROVIDERS.map((d) => [d.id, d]));

/** The known provider ids, in list order. */
export const PROVIDER_IDS: readonly string[] = PROVIDERS.map((d) => d.id);

/** Why a provider that is listed but has no implementation cannot run anything. */
export const NOT_IMPLEMENTED = 'not implemented in this version';

/** The descriptor of `id`, or undefined. */
export function findProvider(id: string): ProviderDescriptor | undefined {
  return BY_ID.get(id);
}

/**
 * The descriptor of `id`; an unknown id is an InvalidRequest naming `field` and the known ids.
 * @example requireProvider('kubernets', 'provider') // throws: provider: unknown provider "kubernets"; known providers: local, docker, ...
 */
export function requireProvider(id: string, field: string): ProviderDescriptor {
  const d = BY_ID.get(id);
  if (!d)
    throw new InvalidRequest(
      `${field}: unknown provider ${JSON.stringify(id)}; known providers: ${PROVIDER_IDS.join(', ')}`,
    );
  return d;
}

/** The descriptor whose runners dial in for pools of `mode` (`pool`, `external`), if any. */
export function joinedRunnersProvider(mode: string): ProviderDescriptor | undefined {
  return PROVIDERS.find((d) => d.poolMode === mode);
}

/**
 * The provider of a pool created without one: for `managed`, the first implemented managed
 * provider on the server's own host (the default pool's); for `pool` / `external`, the provider
 * whose runners join that way.
 */
export function defaultProviderFor(mode: string): ProviderDescriptor {
  const d =
    mode === 'managed'
      ? PROVIDERS.find((p) => p.poolMode === 'managed' && p.onServerHost && p.create)
      : joinedRunnersProvider(mode);
  if (!d) throw new InvalidRequest(`mode: no provider takes ${JSON.stringify(mode)} pools`);
  return d;
}

/** Each configured provider's section, parsed by its descriptor's schema, by provider id. */
export type ProvidersConfig = Readonly<Record<string, unknown>>;

function issuesText(error: { issues: { path: PropertyKey[]; message: string; code: string; keys?: string[] }[] }) {
  return error.issues
    .map((i) => {
      const path = i.path.map(String).join('.');
      const msg =
        i.code === 'unrecognized_keys' && i.keys
          ? `unknown key${i.keys.length > 1 ? 's' : ''} ${i.keys.join(', ')}`
          : i.message;
      return `${path ? `${path}: ` : ''}${msg}`;
    })
    .join('; ');
}

/**
 * Validates marionette.yaml's `providers:` map: every key must be a known provider id, every
 * provider configured must be implemented, and every section must match its descriptor's strict
 * schema. Throws InvalidRequest naming the key, e.g.
 * `marionette.yaml: providers.docker: unknown key imagee` or
 * `marionette.yaml: providers.kubernetes: the kubernetes provider is not implemented in this version ...`.
 */
export function parseProvidersConfig(raw: Record<string, unknown>, source: string): ProvidersConfig {
  const out: Record<string, unknown> = {};
  for (const [id, section] of Object.entries(raw)) {
    const d = BY_ID.get(id);
    if (!d)
      throw new InvalidRequest(
        `${source}: providers.${id}: unknown provider ${JSON.stringify(id)}; known providers: ${PROVIDER_IDS.join(', ')}`,
      );
    if (!d.create)
      throw new InvalidRequest(
        `${source}: providers.${id}: the ${d.displayName} provider is ${NOT_IMPLEMENTED}; remove this section (implemented: ${PROVIDERS.filter(
          (p) => p.create,
        )
          .map((p) => p.id)
          .join(', ')})`,
      );
    const r = d.config.safeParse(section ?? {});
    if (!r.success) throw new InvalidRequest(`${source}: providers.${id}: ${issuesText(r.error)}`);
    out[id] = r.data;
  }
  return out;
}

/** Pools declared inside provider sections (the seed's `providers.pool.pools`), with their provider and mode filled in. */
export function poolsInProviderSections(
  config: ProvidersConfig,
): { providerId: string; name: string; pool: Record<string, unknown> }[] {
  const out: { providerId: string; name: string; pool: Record<string, unknown> }[] = [];
  for (const d of PROVIDERS) {
    if (!d.pools || config[d.id] === undefined) continue;
    for (const [name, p] of Object.entries(d.pools(config[d.id])))
      out.push({
        providerId: d.id,
        name,
        pool: { mode: d.poolMode, provider: d.id, ...(p as Record<string, unknown>) },
      });
  }
  return out;
}

/**
 * The default suspend config of `providerId`'s pools: the descriptor's, with the keys of
 * `providers.<id>.suspend_config` over it. A pool's own `suspend_config` goes over this.
 * Throws InvalidRequest naming the key for a bad duration.
 */
export function defaultSuspendConfig(providerId: string, config: ProvidersConfig): SuspendConfig {
  const d = requireProvider(providerId, 'provider');
  const base: SuspendConfig = { ...d.suspend };
  const section = config[providerId] as { suspend_config?: ProviderSuspendConfig } | undefined;
  const sc = section?.suspend_config;
  if (!sc) return base;
  const ms = (v: string | number, key: string) => {
    const n = parseDuration(v);
    if (n === null)
      throw new InvalidRequest(
        `providers.${providerId}.suspend_config.${key}: ${JSON.stringify(v)} is not a duration (e.g. 60s, 24h, or seconds)`,
      );
    return n;
  };
  return {
    ...base,
    ...(sc.strategy ? { strategy: sc.strategy } : {}),
    ...(sc.fallback ? { fallback: sc.fallback } : {}),
    ...(sc.min_duration !== undefined ? { minDurationMs: ms(sc.min_duration, 'min_duration') } : {}),
    ...(sc.max_duration !== undefined
      ? { maxDurationMs: sc.max_duration === null ? null : ms(sc.max_duration, 'max_duration') }
      : {}),
  };
}

/**
 * Builds every implemented provider from its parsed section (an absent section is its defaults).
 * A provider whose backend is unreachable is still built: its `health()` says why, and its pools
 * show `unavailable` with that reason. Every object a provider creates carries `ctx.installId`.
 * A provider that declares a credential gets `ctx.resolveCredential` bound to itself (from `credentials`).
 */
export async function createProviders(
  config: ProvidersConfig,
  ctx: ProviderContext,
  credentials?: (orgId: string, providerId: string) => Promise<Record<string, string> | null>,
): Promise<Map<string, SandboxProvider>> {
  const out = new Map<string, SandboxProvider>();
  for (const d of PROVIDERS) {
    if (!d.create || (d.requiresConfig && config[d.id] === undefined)) continue;
    const section = config[d.id] ?? d.config.parse({});
    const own = d.credential && credentials ? { ...ctx, resolveCredential: (o: string) => credentials(o, d.id) } : ctx;
    out.set(d.id, await d.create(section, own));
  }
  return out;
}

/**
 * Why pools of `providerId` cannot run anything right now, or null: not a known provider, not
 * implemented, not built on this server, or its last health probe failed (`probed`).
 */
export function providerUnavailableReason(
  providerId: string,
  built: ReadonlyMap<string, SandboxProvider>,
  probed: string | null | undefined,
): string | null {
  const d = BY_ID.get(providerId);
  if (!d) return `unknown provider ${providerId}`;
  if (!d.create) return `provider ${providerId}: ${NOT_IMPLEMENTED}`;
  if (!built.has(providerId)) return `provider ${providerId} is not configured on this server`;
  return probed ? `provider ${providerId} unavailable: ${probed}` : null;
}

/** What the scheduler's `compilePool` needs from a pool's provider class (`{}` for an unknown id). */
export function providerClassView(providerId: string, built: ReadonlyMap<string, SandboxProvider>): ProviderClassView {
  const d = BY_ID.get(providerId);
  if (!d) return {};
  const unregistered = built.has(providerId) ? null : providerUnavailableReason(providerId, built, null);
  return {
    substrate: d.substrate,
    onServerHost: d.onServerHost === true,
    ...(unregistered ? { unregisteredDetail: unregistered } : {}),
  };
}
