/**
 * @module The modal provider's config schema (`providers.modal` in marionette.yaml, and the keys a
 * pool's `sandbox_config` may set over it), with its defaults. The token id and secret are not
 * here: they are the org's credential (./credentials.ts). Every key documents its default; an
 * invalid config fails with the path of the bad key.
 */
import { z } from 'zod';
import { parseDuration } from '../../core/duration.js';
import { InvalidRequest } from '../../core/errors.js';
import { ProviderSuspendConfig } from '../descriptor.js';

/** The registry image a runner sandbox starts from unless the config says otherwise (docs/providers/modal.md builds it). */
export const DEFAULT_MODAL_IMAGE = 'marionette-agent:latest';

const duration = z
  .union([z.string(), z.number()])
  .refine((v) => parseDuration(v) !== null, 'expected a duration like "90s", "5m" or seconds');

/** What a pool's `sandbox_config` may set over the provider's section (all optional). */
export const ModalPoolConfigSchema = z.strictObject({
  /** The registry image (`registry/name:tag`) each runner sandbox runs. Default `marionette-agent:latest`. */
  image: z.string().min(1).optional(),
  /** A Modal image id (`im-...`) instead of a registry image; wins over `image`. Default none. */
  imageId: z.string().min(1).optional(),
  /** CPU cores reserved for each sandbox (fractions allowed). Default: the session's request, else Modal's. */
  cpu: z.number().positive().optional(),
  /** Memory in MiB reserved for each sandbox. Default: the session's request, else Modal's. */
  memoryMiB: z.number().int().positive().optional(),
  /** A GPU for every sandbox, in Modal's words (`T4`, `A10G`, `A100:2`). Default none (only when a session asks). */
  gpu: z.string().min(1).optional(),
  /** Environment variables of every runner's agent (never the runner's own MARIONETTE_* values). */
  env: z.record(z.string(), z.string()).optional(),
});

export const ModalProviderConfigSchema = ModalPoolConfigSchema.extend({
  /**
   * The gateway address the agent inside a sandbox dials (`wss://marionette.example.com:9090`).
   * Required to run anything: a Modal sandbox cannot reach the server's unix socket.
   */
  gateway: z.string().min(1).optional(),
  /**
   * Modal's API address. Default: the SDK's (`https://api.modal.com:443`). An `http://` address
   * is plaintext gRPC (a local stand-in on loopback only).
   */
  serverUrl: z.string().url().optional(),
  /** The Modal app every runner sandbox belongs to (made when missing). Default `marionette`. */
  appName: z.string().min(1).default('marionette'),
  /** The Modal environment. Default: the token's default environment. */
  environment: z.string().min(1).optional(),
  /** The command that starts marionette-agent inside the image. Default `marionette-agent`. */
  agentCommand: z.string().min(1).default('marionette-agent'),
  /** The workspace path inside the sandbox. Default `/workspace`. */
  workspace: z.string().startsWith('/').default('/workspace'),
  /** Prefix of the tags on every sandbox this provider creates. Default `marionette`. */
  tagPrefix: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'expected lowercase letters, digits, dots and dashes')
    .default('marionette'),
  /** The GPU type used when a session asks for GPUs by count and the pool names none. Default `T4`. */
  gpuType: z.string().min(1).default('T4'),
  /** A sandbox's maximum lifetime (Modal's `timeout`; whole seconds, at most 24h). Default `24h`. */
  sandboxTimeout: duration
    .refine((v) => (parseDuration(v) ?? 0) <= 86_400_000, 'Modal sandboxes live at most 24h')
    .default('24h'),
  /** How long a filesystem snapshot may take. Default `5m`. */
  snapshotTimeout: duration.default('5m'),
  /** How often a call Modal refused with RESOURCE_EXHAUSTED (rate limit) is retried, with backoff. Default 4. */
  rateLimitRetries: z.number().int().min(0).max(10).default(4),
  /** The seed's per-provider `suspend_config` (default: terminate_preserve_storage, else terminate). */
  suspend_config: ProviderSuspendConfig.optional(),
});

export type ModalProviderConfigInput = z.input<typeof ModalProviderConfigSchema>;
export type ModalProviderConfig = z.output<typeof ModalProviderConfigSchema>;

function issues(e: z.ZodError): string {
  return e.issues.map((i) => `${i.path.join('.') || '(section)'}: ${i.message}`).join('; ');
}

/** Parses a provider section; an error names the key. */
export function parseModalConfig(input: unknown): ModalProviderConfig {
  const r = ModalProviderConfigSchema.safeParse(input ?? {});
  if (!r.success) throw new InvalidRequest(`providers.modal: ${issues(r.error)}`);
  return r.data;
}

/** The provider's config with a pool's `sandbox_config` over it; an unknown or bad key is an error naming it. */
export function mergeModalConfig(base: ModalProviderConfig, sandboxConfig: Record<string, unknown>) {
  const r = ModalPoolConfigSchema.safeParse(sandboxConfig ?? {});
  if (!r.success) throw new InvalidRequest(`sandbox_config: ${issues(r.error)}`);
  const over = r.data;
  // A pool's registry image replaces the provider's image id (the id would win otherwise).
  const imageId = over.imageId ?? (over.image === undefined ? base.imageId : undefined);
  const { imageId: _baseId, ...rest } = base;
  const { imageId: _overId, ...overRest } = over;
  return {
    ...rest,
    ...overRest,
    image: over.image ?? base.image ?? DEFAULT_MODAL_IMAGE,
    ...(imageId !== undefined ? { imageId } : {}),
    env: { ...base.env, ...over.env },
  };
}
export type ModalRunConfig = ReturnType<typeof mergeModalConfig>;

/** A duration key in milliseconds, rounded to whole seconds (Modal's unit). */
export function wholeSecondsMs(v: string | number, fallbackMs: number): number {
  return Math.max(1000, Math.round((parseDuration(v) ?? fallbackMs) / 1000) * 1000);
}
