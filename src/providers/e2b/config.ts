/**
 * @module The e2b provider's config schema (`providers.e2b` in marionette.yaml, and the keys a
 * pool's `sandbox_config` may set over it), with its defaults. Every key documents its default;
 * an invalid config fails with the path of the bad key.
 */
import { z } from 'zod';
import { parseDuration } from '../../core/duration.js';
import { InvalidRequest } from '../../core/errors.js';
import { ProviderSuspendConfig } from '../descriptor.js';

/** The template a sandbox starts from unless the config names another (docs/providers/e2b.md builds it). */
export const DEFAULT_E2B_TEMPLATE = 'marionette-agent';

const duration = z.union([z.string(), z.number()]).refine((v) => parseDuration(v) !== null, {
  message: 'expected a duration like "90s", "1h", or seconds',
});

/** What a pool's `sandbox_config` may set over the provider's section (all optional). */
export const E2bPoolConfigSchema = z.strictObject({
  /** Template (name or id) every sandbox of the pool starts from. */
  template: z.string().min(1).optional(),
  /** The agent's command inside the sandbox (a shell command line). */
  agentCommand: z.string().min(1).optional(),
  /** The workspace directory inside the sandbox (created at provision). */
  workspace: z.string().startsWith('/').optional(),
  /** How long E2B keeps a sandbox alive before it kills it (its `timeoutMs`). */
  sandboxTimeout: duration.optional(),
  /**
   * How the agent and the server meet: `dial-in` (the agent dials `gateway`) or `tunnel` (the agent
   * listens on `tunnelPort` and the server dials it through E2B's sandbox host, for a server behind NAT).
   */
  transport: z.enum(['dial-in', 'tunnel']).optional(),
  /** The port the agent listens on in `tunnel` transport. */
  tunnelPort: z.number().int().min(1).max(65535).optional(),
});

/** The `providers.e2b` section. */
export const E2bProviderConfigSchema = E2bPoolConfigSchema.extend({
  template: z.string().min(1).default(DEFAULT_E2B_TEMPLATE),
  /** Default `marionette-agent` (on the template's PATH). */
  agentCommand: z.string().min(1).default('marionette-agent'),
  /** Default `/home/user/workspace` (E2B's default user is `user`). */
  workspace: z.string().startsWith('/').default('/home/user/workspace'),
  /** Default `1h` (E2B's ceiling is 1h on Hobby, 24h on Pro). */
  sandboxTimeout: duration.default('1h'),
  /** Default `dial-in`. */
  transport: z.enum(['dial-in', 'tunnel']).default('dial-in'),
  /**
   * The longest a sandbox may live before its session is suspended (the capability row's
   * `maxSessionDurationSeconds`; `sessions.ceiling_margin` before it). Default none. Set it below
   * `sandboxTimeout` to suspend sessions before E2B kills their sandbox.
   */
  maxSessionDuration: duration.optional(),
  /** Default 49990 (not one of envd's). */
  tunnelPort: z.number().int().min(1).max(65535).default(49990),
  /**
   * Where the server dials a sandbox's listening agent, with `{port}`, `{sandboxId}` and `{domain}`
   * filled in. Default `wss://{port}-{sandboxId}.{domain}`: E2B's host for a sandbox port (the SDK's
   * `getHost`), `{domain}` being `domain` or `e2b.app`. For self-hosted E2B and tests.
   */
  tunnelUrl: z
    .string()
    .regex(/^wss?:\/\/.*\{port\}/, 'expected a ws:// or wss:// URL template containing {port}')
    .default('wss://{port}-{sandboxId}.{domain}'),
  /**
   * The gateway address the sandboxes dial (`wss://marionette.example.com:9090`): it must be
   * reachable from E2B's cloud. Required to provision.
   */
  gateway: z.string().min(1).optional(),
  /** E2B's domain (the SDK's `domain`, `E2B_DOMAIN`). Default: the SDK's (`e2b.app`). */
  domain: z.string().min(1).optional(),
  /** E2B's control-plane API URL (the SDK's `apiUrl`). Default: `https://api.<domain>`. For self-hosted E2B and tests. */
  apiUrl: z.string().url().optional(),
  /** One URL for every sandbox's envd (the SDK's `sandboxUrl`). Default: per sandbox under the domain. For tests. */
  sandboxUrl: z.string().url().optional(),
  /** Key prefix of the metadata every sandbox carries (`<prefix>.managed`, `.runner`, ...). Default `marionette`. */
  metadataPrefix: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]*$/, 'expected lowercase letters, digits, dots and dashes')
    .default('marionette'),
  /** How many times a call E2B rate-limits is retried, with exponential backoff from 1s (capped at 30s). Default 5. */
  rateLimitRetries: z.number().int().min(0).max(20).default(5),
  /** How long one E2B API call may take. Default `60s`. */
  requestTimeout: duration.default('60s'),
  suspend_config: ProviderSuspendConfig.optional(),
});

export type E2bProviderConfig = z.infer<typeof E2bProviderConfigSchema>;
export type E2bProviderConfigInput = z.input<typeof E2bProviderConfigSchema>;

/** Parses a `providers.e2b` section; throws InvalidRequest naming the bad key. */
export function parseE2bConfig(raw: unknown): E2bProviderConfig {
  const r = E2bProviderConfigSchema.safeParse(raw ?? {});
  if (r.success) return r.data;
  const i = r.error.issues[0];
  throw new InvalidRequest(`providers.e2b.${i?.path.map(String).join('.') ?? ''}: ${i?.message ?? 'invalid'}`);
}

/** The provider's section with a pool's `sandbox_config` over it; a bad key is an InvalidRequest naming it. */
export function mergeE2bConfig(base: E2bProviderConfig, sandboxConfig: Record<string, unknown>): E2bProviderConfig {
  const r = E2bPoolConfigSchema.safeParse(sandboxConfig ?? {});
  if (!r.success) {
    const i = r.error.issues[0];
    const key = i?.code === 'unrecognized_keys' ? i.keys.join(', ') : (i?.path.map(String).join('.') ?? '');
    throw new InvalidRequest(`sandbox_config.${key}: ${i?.message ?? 'invalid'} (e2b pools)`);
  }
  const over = Object.fromEntries(Object.entries(r.data).filter(([, v]) => v !== undefined));
  return { ...base, ...over };
}

/** A duration of the config in milliseconds. */
export function ms(v: string | number): number {
  return parseDuration(v) ?? 0;
}
