/**
 * @module The request bodies of session and task creation (`POST /v1/sessions`,
 * `POST /v1/sessions/:id/tasks`) and the checks on them that need no store: a request is refused
 * (400 naming the field) before anything is written.
 */
import { z } from 'zod';
import { InvalidRequest } from '../core/errors.js';
import { AUTH_MODES, type AuthMode } from '../core/types.js';
import { PROVIDER_IDS } from '../providers/registry.js';
import { TaskTimeoutMs } from './agents.js';
import { PRIORITY_RANGE } from './input-guards.js';

export const CreateSessionBody = z.strictObject({
  agent: z.string().min(1),
  prompt: z.string().optional(),
  /** Only pools of this provider (one of the registry's provider ids). */
  provider: z.string().min(1).optional(),
  pool: z.string().min(1).optional(),
  selector: z.string().optional(),
  profile: z.string().min(1).optional(),
  authMode: z.enum(AUTH_MODES as [AuthMode, ...AuthMode[]]).optional(),
  env: z
    .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'env names are letters, digits and _'), z.string())
    .optional(),
  /** false: fail at once when no pool can take the session, with the reasons, writing nothing. Default true. */
  waitForCapacity: z.boolean().optional(),
  /** Decide and explain without creating anything. */
  dryRun: z.boolean().optional(),
  maxRetries: z.number().int().min(0).max(10).optional(),
  /** Higher is placed first; FIFO within a priority. Default 0. */
  priority: z.number().int().min(PRIORITY_RANGE.min).max(PRIORITY_RANGE.max).optional(),
  taskTimeoutMs: TaskTimeoutMs.optional(),
  /** Run in this image instead of the pool's, where the pool allows it (docker: sandbox_config.allowedImages). */
  image: z
    .string()
    .max(255)
    .regex(/^[A-Za-z0-9][A-Za-z0-9._\-/:@]*$/, 'an image reference like ghcr.io/acme/agent:1.2')
    .optional(),
  /** Over the profile's resources: CPUs (`2`, `500m`), memory (`4Gi`), GPUs (`1`). */
  resources: z
    .strictObject({ cpu: z.string().optional(), memory: z.string().optional(), gpu: z.string().optional() })
    .optional(),
});
export type CreateSessionBody = z.infer<typeof CreateSessionBody>;

export const CreateTaskBody = z.strictObject({
  prompt: z.string(),
  maxRetries: z.number().int().min(0).max(10).optional(),
});
export type CreateTaskBody = z.infer<typeof CreateTaskBody>;

/** Refuses a provider id the provider registry does not know (such a session could never be placed). */
export function checkProvider(provider: string): void {
  if (!(PROVIDER_IDS as readonly string[]).includes(provider))
    throw new InvalidRequest(
      `provider: unknown provider ${JSON.stringify(provider)}; known providers: ${PROVIDER_IDS.join(', ')}`,
      { hint: 'pools and the providers they use are listed by `mctl pools list`' },
    );
}
