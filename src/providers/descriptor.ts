/**
 * @module The provider descriptor: everything the server knows about a provider class, in one
 * object exported by `src/providers/<id>/index.ts` and listed once in `src/providers/registry.ts`.
 */
import { z } from 'zod';
import {
  type PoolMode,
  type RuntimeProvides,
  type SandboxProviderCapabilities,
  SUSPEND_STRATEGIES,
  type SuspendConfig,
  type SuspendStrategy,
} from '../core/types.js';
import type { EgressOwner } from '../egress/ledger.js';
import type { EgressDenial } from '../egress/proxy.js';
import type { SandboxProvider } from './types.js';

/** One field of a provider's credential: its name, the env variable it falls back to, and whether it is secret. */
export interface ProviderCredentialField {
  name: string;
  env: string;
  required: boolean;
  secret: boolean;
}

/** What `create` gets from the server besides the provider's own config section. */
export interface ProviderContext {
  /** The server's state directory (`$MARIONETTE_HOME`). */
  home: string;
  /** The gateway address runners dial (`unix:<gatewaySocket>` on this host). */
  gateway: string;
  /** Host path of the gateway's unix socket (mountable into containers). */
  gatewaySocket: string;
  /** The install's id: a provider labels what it creates with it and reaps only what carries it. */
  installId: string | null;
  /**
   * Called for every connection an egress proxy of this provider refused (the server counts,
   * logs and records them; see src/egress/ledger.ts). Absent: refusals are only counted by the proxy.
   */
  onEgressDenied?: (owner: EgressOwner, denial: EgressDenial) => void;
  /**
   * The credential of the provider being built for an org (field name -> value): the org's
   * stored credential first, else the environment fallback, else null.
   */
  resolveCredential?(orgId: string): Promise<Record<string, string> | null>;
}

export interface ProviderDescriptor<C = unknown> {
  /** The id pools name in `provider:` (lowercase). */
  readonly id: string;
  readonly displayName: string;
  /** The class row of the seed's capability matrix. */
  readonly capabilities: Readonly<SandboxProviderCapabilities>;
  /** What a pool of this class provides when its `runtime_provides` override is null. */
  readonly substrate: Readonly<RuntimeProvides>;
  /** The suspend config of this provider's pools unless `providers.<id>.suspend_config` or the pool says otherwise. */
  readonly suspend: Readonly<SuspendConfig>;
  /**
   * How its pools get runners: `managed` (the server starts them with `create(...).provision`), or
   * `pool` / `external` (runners dial in with a registration token; that is the pool's mode).
   */
  readonly poolMode: PoolMode;
  /** The fields of this provider's credential (a cloud API key), each with its environment fallback. */
  readonly credential?: { fields: ProviderCredentialField[] };
  /** Runs runners on the server's own host: the only class the `local` and `host-session` auth modes may use. */
  readonly onServerHost?: boolean;
  /** The `providers.<id>` section of marionette.yaml (strict: an unknown key is an error naming it). */
  readonly config: z.ZodType<C>;
  /**
   * Built only when marionette.yaml has a `providers.<id>` section (a cluster provider with no
   * default backend to reach); without one its pools are `unavailable` (not configured here).
   */
  readonly requiresConfig?: boolean;
  /** Builds the provider from its parsed config; absent while the provider is not implemented. */
  readonly create?: (config: C, ctx: ProviderContext) => Promise<SandboxProvider>;
  /** Pools declared inside this provider's section (the seed's `providers.pool.pools`), by name. */
  readonly pools?: (config: C) => Record<string, unknown>;
  /**
   * Whether a pool (its `sandbox_config` over this provider's config) lets a session ask for
   * `image`: null when it does, else why not. Absent: the provider runs no images, so a session
   * `image` is refused on its pools.
   */
  readonly imagePolicy?: (config: C, sandboxConfig: Record<string, unknown>, image: string) => string | null;
}

/** Freezes a descriptor and everything in it, so nobody changes a class row by accident. */
function deepFreeze<T>(v: T): T {
  // Rows may be frozen already at the top (Object.freeze is shallow): recurse anyway. Schemas are left alone.
  if (v !== null && typeof v === 'object' && !(v instanceof z.ZodType)) {
    for (const inner of Object.values(v)) deepFreeze(inner);
    Object.freeze(v);
  }
  return v;
}

/** Checks and freezes a descriptor; its typed `create` takes what its own schema parsed. */
export function defineProvider<C>(d: ProviderDescriptor<C>): ProviderDescriptor {
  return deepFreeze(d) as unknown as ProviderDescriptor;
}

/** Architectures every class accepts unless it says otherwise. */
export const BOTH_ARCHES: readonly string[] = ['x86_64', 'arm64'];

const strategy = z.enum(SUSPEND_STRATEGIES as [SuspendStrategy, ...SuspendStrategy[]]);
const durationInput = z.union([z.string(), z.number()]);

/**
 * A provider-level `suspend_config` (the seed's `providers.docker.suspend_config`): the default
 * for that provider's pools, below a pool's own. Durations are `60s`, `24h`, or seconds.
 */
export const ProviderSuspendConfig = z.strictObject({
  strategy: strategy.optional(),
  fallback: strategy.optional(),
  min_duration: durationInput.optional(),
  max_duration: durationInput.nullable().optional(),
});
export type ProviderSuspendConfig = z.infer<typeof ProviderSuspendConfig>;

/** The section schema of a provider that is not implemented yet: no keys (configuring it is refused anyway). */
export const NO_CONFIG = z.strictObject({});

/** Default suspend config of a managed class with no pause: keep the volume, else terminate. */
export const KEEP_STORAGE_SUSPEND: SuspendConfig = {
  strategy: 'terminate_preserve_storage',
  fallback: 'terminate',
  minDurationMs: 0,
  maxDurationMs: null,
};
