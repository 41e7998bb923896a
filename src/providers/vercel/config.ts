/**
 * @module The vercel provider's config schema (`providers.vercel` in marionette.yaml, and the keys
 * a pool's `sandbox_config` may set over it), with its defaults. The token, team and project are
 * not here: they are the org's credential (./credentials.ts). Every key documents its default; an
 * invalid config fails with the path of the bad key.
 */
import { z } from 'zod';
import { parseDuration } from '../../core/duration.js';
import { InvalidRequest } from '../../core/errors.js';
import { ProviderSuspendConfig } from '../descriptor.js';

/** Vercel's API, the SDK's own base URL. */
export const DEFAULT_VERCEL_API_URL = 'https://vercel.com/api';

const duration = z
  .union([z.string(), z.number()])
  .refine((v) => parseDuration(v) !== null, 'expected a duration like "90s", "5h" or seconds');

/** What a pool's `sandbox_config` may set over the provider's section (all optional). */
export const VercelPoolConfigSchema = z.strictObject({
  /** The image (Vercel Container Registry) each runner sandbox boots, carrying marionette-agent. Default `marionette-agent`. */
  image: z.string().min(1).optional(),
  /** vCPUs per sandbox (Vercel gives 2048 MB of memory per vCPU). Default: Vercel's (2). */
  vcpus: z.number().int().min(1).max(32).optional(),
  /** The command that starts marionette-agent inside the sandbox (a shell command line). */
  agentCommand: z.string().min(1).optional(),
  /** The workspace directory inside the sandbox (created at provision). */
  workspace: z.string().startsWith('/').optional(),
  /** Vercel's region (`iad1`, `sfo1`, `fra1`, ...). Default: Vercel's (`iad1`). */
  region: z.string().min(1).optional(),
});

export const VercelProviderConfigSchema = VercelPoolConfigSchema.extend({
  image: z.string().min(1).default('marionette-agent'),
  /** Default `marionette-agent` (on the image's PATH). */
  agentCommand: z.string().min(1).default('marionette-agent'),
  /** Default `/vercel/sandbox` (Vercel's working directory, writable by its default user). */
  workspace: z.string().startsWith('/').default('/vercel/sandbox'),
  /**
   * The gateway address the agent inside a sandbox dials (`wss://marionette.example.com:9090`).
   * Required to run anything: a Vercel sandbox cannot reach the server's unix socket.
   */
  gateway: z.string().min(1).optional(),
  /**
   * How long Vercel keeps a sandbox before it stops it (its `timeout`). Default `5h` (18,000 s,
   * the class ceiling; Hobby plans stop at 45 minutes).
   */
  sandboxTimeout: duration.default('5h'),
  /** How long a `snapshot` suspend's snapshot is kept by Vercel. Default `0` (never expires; deleted with the session). */
  snapshotExpiration: duration.default(0),
  /** Prefix of every sandbox name (`<prefix>-<runner id>`) and tag key. Default `marionette`. */
  namePrefix: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]*$/, 'expected lowercase letters, digits and dashes')
    .max(24)
    .default('marionette'),
  /**
   * Vercel's API base URL (the SDK's own default). Another URL (a proxy, the test stand-in) is
   * reached through the SDK's documented `fetch` option, which rewrites the default prefix.
   */
  apiUrl: z.string().url().default(DEFAULT_VERCEL_API_URL),
  /** How many times a call Vercel rate-limits (429) is retried, with backoff from 1 s (capped at 30 s). Default 5. */
  rateLimitRetries: z.number().int().min(0).max(20).default(5),
  suspend_config: ProviderSuspendConfig.optional(),
});

export type VercelProviderConfigInput = z.input<typeof VercelProviderConfigSchema>;
export type VercelProviderConfig = z.output<typeof VercelProviderConfigSchema>;

function issues(e: z.ZodError): string {
  return e.issues
    .map((i) =>
      i.code === 'unrecognized_keys'
        ? `${i.keys.join(', ')}: unknown key`
        : `${i.path.map(String).join('.') || '(section)'}: ${i.message}`,
    )
    .join('; ');
}

/** Parses a `providers.vercel` section; an error names the key. */
export function parseVercelConfig(input: unknown): VercelProviderConfig {
  const r = VercelProviderConfigSchema.safeParse(input ?? {});
  if (!r.success) throw new InvalidRequest(`providers.vercel: ${issues(r.error)}`);
  return r.data;
}

/** The provider's config with a pool's `sandbox_config` over it; an unknown or bad key is an error naming it. */
export function mergeVercelConfig(base: VercelProviderConfig, sandboxConfig: Record<string, unknown>) {
  const r = VercelPoolConfigSchema.safeParse(sandboxConfig ?? {});
  if (!r.success) throw new InvalidRequest(`sandbox_config: ${issues(r.error)} (vercel pools)`);
  const over = Object.fromEntries(Object.entries(r.data).filter(([, v]) => v !== undefined));
  return { ...base, ...over } as VercelProviderConfig;
}

/** A duration of the config in milliseconds. */
export function ms(v: string | number): number {
  return parseDuration(v) ?? 0;
}
