/**
 * @module The daytona provider's config schema (`providers.daytona` in marionette.yaml, and the
 * keys a pool's `sandbox_config` may set over it), with its defaults. The API key, API URL and
 * target are not here: they are the org's credential (see ./credentials.ts). Every key documents
 * its default; an invalid config fails with the path of the bad key.
 */
import { z } from 'zod';
import { parseDuration } from '../../core/duration.js';
import { InvalidRequest } from '../../core/errors.js';
import { ProviderSuspendConfig } from '../descriptor.js';

/** The Daytona snapshot a runner sandbox starts from unless the config says otherwise (docs/providers/daytona.md builds it). */
export const DEFAULT_DAYTONA_SNAPSHOT = 'marionette-agent';

const duration = z
  .union([z.string(), z.number()])
  .refine((v) => parseDuration(v) !== null, 'expected a duration like "90s", "5m" or seconds');

/** What a pool's `sandbox_config` may set over the provider's section (all optional). */
export const DaytonaPoolConfigSchema = z.strictObject({
  /** The Daytona snapshot (name) each runner sandbox is created from. Default `marionette-agent`. */
  snapshot: z.string().min(1).optional(),
  /** Sandbox resources (Daytona units: vCPUs, GiB of memory, GiB of disk). Default: the snapshot's. */
  resources: z
    .strictObject({
      cpu: z.number().int().positive().optional(),
      memory: z.number().int().positive().optional(),
      disk: z.number().int().positive().optional(),
    })
    .optional(),
  /** Environment variables of every runner sandbox (never the runner's own MARIONETTE_* values). */
  env: z.record(z.string(), z.string()).optional(),
  /**
   * How the agent and the server meet: `dial-in` (the agent dials `gateway`) or `tunnel` (the agent
   * listens on `tunnelPort` and the server dials it through the sandbox's preview link).
   */
  transport: z.enum(['dial-in', 'tunnel']).optional(),
  /** The port the agent listens on in `tunnel` transport. */
  tunnelPort: z.number().int().min(1).max(65535).optional(),
});

export const DaytonaProviderConfigSchema = DaytonaPoolConfigSchema.extend({
  /**
   * The gateway address the agent inside a sandbox dials (`wss://marionette.example.com:9090`).
   * Required to run anything: a cloud sandbox cannot reach the server's unix socket.
   */
  gateway: z.string().min(1).optional(),
  /** Default `dial-in`. */
  transport: z.enum(['dial-in', 'tunnel']).default('dial-in'),
  /** Default 49990. */
  tunnelPort: z.number().int().min(1).max(65535).default(49990),
  /** The command that starts marionette-agent inside the snapshot. Default `marionette-agent`. */
  agentCommand: z.string().min(1).default('marionette-agent'),
  /** The workspace path inside the sandbox (must be writable by the sandbox's user). Default `/workspace`. */
  workspace: z.string().startsWith('/').default('/workspace'),
  /** Prefix of the labels on every sandbox this provider creates. Default `io.marionette`. */
  labelPrefix: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'expected lowercase letters, digits, dots and dashes')
    .default('io.marionette'),
  /**
   * Daytona's auto-stop interval in minutes. Default 0 (off): an idle runner waits for work, and
   * the server stops it itself (`idle_timeout`, suspend). Daytona's own default (15) would stop it.
   */
  autoStopMinutes: z.number().int().min(0).default(0),
  /** `terminate_preserve_storage` archives the stopped sandbox too (object storage: cheaper, slower to start). Default false. */
  archiveOnSuspend: z.boolean().default(false),
  /** How long a sandbox may take to start (create, start, restore). Default `120s`. */
  startTimeout: duration.default('120s'),
  /** How often a call the API refused with 429 (rate limit) is retried, with backoff. Default 4. */
  rateLimitRetries: z.number().int().min(0).max(10).default(4),
  /** The seed's per-provider `suspend_config` (default: terminate_preserve_storage, else terminate). */
  suspend_config: ProviderSuspendConfig.optional(),
});

export type DaytonaProviderConfigInput = z.input<typeof DaytonaProviderConfigSchema>;
export type DaytonaProviderConfig = z.output<typeof DaytonaProviderConfigSchema>;

/** Parses a provider section; an error names the key. */
export function parseDaytonaConfig(input: unknown): DaytonaProviderConfig {
  const r = DaytonaProviderConfigSchema.safeParse(input ?? {});
  if (!r.success)
    throw new InvalidRequest(
      `providers.daytona: ${r.error.issues.map((i) => `${i.path.join('.') || '(section)'}: ${i.message}`).join('; ')}`,
    );
  return r.data;
}

/** The provider's config with a pool's `sandbox_config` over it; an unknown or bad key is an error naming it. */
export function mergeDaytonaConfig(base: DaytonaProviderConfig, sandboxConfig: Record<string, unknown>) {
  const r = DaytonaPoolConfigSchema.safeParse(sandboxConfig ?? {});
  if (!r.success)
    throw new InvalidRequest(
      `sandbox_config: ${r.error.issues.map((i) => `${i.path.join('.') || '(section)'}: ${i.message}`).join('; ')}`,
    );
  const over = r.data;
  return {
    ...base,
    snapshot: over.snapshot ?? base.snapshot ?? DEFAULT_DAYTONA_SNAPSHOT,
    resources: { ...base.resources, ...over.resources },
    env: { ...base.env, ...over.env },
  };
}
export type DaytonaRunConfig = ReturnType<typeof mergeDaytonaConfig>;

/** The start timeout in whole seconds (the SDK's unit). */
export function startTimeoutSec(cfg: DaytonaProviderConfig): number {
  return Math.max(1, Math.ceil((parseDuration(cfg.startTimeout) ?? 120_000) / 1000));
}
