/**
 * @module The REST API's request schemas (bodies and query strings), in one place that the server
 * (validation and the OpenAPI document), the client (`MarionetteClient`, which `mctl` uses) and the
 * tests share. The states a list can be filtered by come from the state tables in
 * `src/core/states.ts` (the one list of each machine's states). Response schemas are in
 * `./responses.ts`; the operations (ids, paths, success statuses) in `./operations.ts`.
 */

import { z } from 'zod';
import { RUNNER_STATES, SESSION_STATES, TASK_STATES } from '../core/states.js';
import { AUTH_MODES, type AuthMode, LIFECYCLES, POOL_MODES, type PoolMode, SANDBOX_MODES } from '../core/types.js';
import { SUSPEND_STRATEGIES, type SuspendStrategy } from '../providers/types.js';
import { PRIORITY_RANGE } from '../server/input-guards.js';
import { KitRefs, RepoInput } from './kit-schemas.js';

export { RUNNER_STATES, SESSION_STATES, TASK_STATES };

/** A task timeout in milliseconds (at most a week). */
export const TaskTimeoutMs = z
  .number()
  .int()
  .positive()
  .max(7 * 24 * 3_600_000);

/**
 * A `state=` filter: comma-separated states of one machine. An unknown state is refused (400)
 * naming the valid ones, instead of matching nothing.
 */
export function stateFilter<S extends string>(states: readonly S[]) {
  return z
    .string()
    .transform((v, ctx) => {
      const wanted = v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const bad = wanted.filter((s) => !(states as readonly string[]).includes(s));
      if (bad.length) {
        ctx.addIssue({
          code: 'custom',
          message: `unknown state${bad.length > 1 ? 's' : ''} ${bad.map((b) => JSON.stringify(b)).join(', ')}; valid states: ${states.join(', ')}`,
        });
        return z.NEVER;
      }
      return wanted as S[];
    })
    .optional();
}

/** A duration: a string with a unit (`30s`, `5m`) or a bare number (see docs/config.md). */
const durationInput = z.union([z.string(), z.number()]);

const limit = (max: number, dflt: number) => z.coerce.number().int().min(1).max(max).default(dflt);

export const ListSessionsQuery = z.strictObject({
  limit: limit(1000, 50),
  state: stateFilter(SESSION_STATES),
});
export const ListTasksQuery = z.strictObject({
  limit: limit(1000, 50),
  state: stateFilter(TASK_STATES),
  session: z.string().optional(),
});
export const ListRunnersQuery = z.strictObject({
  limit: limit(1000, 50),
  state: stateFilter(RUNNER_STATES),
  pool: z.string().optional(),
  all: z.enum(['1', 'true']).optional(),
});
export const LogsQuery = z.strictObject({
  after: z.coerce.number().int().min(0).default(0),
  limit: limit(10_000, 1000),
  follow: z
    .enum(['1', 'true', '0', 'false'])
    .optional()
    .transform((v) => v === '1' || v === 'true'),
});
export const EventsQuery = z.strictObject({ after: z.coerce.number().int().min(0).default(0) });
export const CostQuery = z.strictObject({
  session: z.string().optional(),
  pool: z.string().optional(),
  limit: limit(1000, 100),
});
export const ListTokensQuery = z.strictObject({ pool: z.string().optional() });

/** `network: { egress }`, checked by src/core/egress.ts (none | open | { allow: [...] }). */
const NetworkInput = z.strictObject({ egress: z.unknown() });

// ---- sessions and tasks

export const CreateSessionBody = z.strictObject({
  agent: z.string().min(1),
  /** The project (id or name) of the caller's org; default: the org's `default` project. */
  project: z.string().min(1).optional(),
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
  /** Decide and explain without creating anything (answers 200 with the decision). */
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
  /** `egress`: none | open | { allow: [host patterns, CIDRs] }, narrowing the pool's (never widening). */
  network: NetworkInput.optional(),
  /** The repository to clone before the first task. */
  repo: RepoInput.optional(),
  /** Kits (`id@version`) added to the agent card's. */
  kits: KitRefs.optional(),
});
export type CreateSessionBody = z.infer<typeof CreateSessionBody>;

export const CreateTaskBody = z.strictObject({
  prompt: z.string(),
  maxRetries: z.number().int().min(0).max(10).optional(),
  /** This task's timeout (ms): wins over the session's, the profile's and the agent card's. */
  taskTimeoutMs: TaskTimeoutMs.optional(),
});
export type CreateTaskBody = z.infer<typeof CreateTaskBody>;

export const SuspendBody = z
  .strictObject({
    strategy: z.enum(SUSPEND_STRATEGIES as [SuspendStrategy, ...SuspendStrategy[]]).optional(),
  })
  .optional();

/** Resume elsewhere through the workspace store (src/server/resume-elsewhere.ts); absent: where it was. */
export const ResumeBody = z
  .strictObject({
    pool: z.string().min(1).optional(),
    provider: z.string().min(1).optional(),
  })
  .optional();

// ---- agent cards

const CardFields = {
  description: z.string().default(''),
  command: z.array(z.string()).min(1),
  env: z.record(z.string(), z.string()).default({}),
  requiredEnv: z.array(z.string()).default([]),
  runtimes: z.array(z.strictObject({ kind: z.string() })).default([{ kind: 'native' }]),
  requires: z.array(z.strictObject({ kind: z.string() })).default([]),
  kits: z.array(z.string()).default([]),
  resume: z.array(z.string()).optional(),
  outcome: z.string().optional(),
  setup: z.array(z.string()).optional(),
  taskTimeoutMs: TaskTimeoutMs.nullable().optional(),
  envHints: z.record(z.string(), z.string()).optional(),
  /** Run the command inside a login shell (the login profile is read first). Default false. */
  loginShell: z.boolean().optional(),
};
export const AgentInput = z.strictObject({ name: z.string(), ...CardFields });
export const AgentUpdate = z.strictObject(CardFields);

export const RenderBody = z.strictObject({
  prompt: z.string(),
  /** The conversation a follow-up task would resume (shows the resume arguments). */
  conversation: z.string().min(1).optional(),
  /** Names (values are not needed) of env the session would be created with. */
  env: z.array(z.string()).default([]),
  taskTimeoutMs: TaskTimeoutMs.optional(),
  profile: z.string().optional(),
});

// ---- pools and profiles

const labelsInput = z.record(
  z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._/-]*$/, 'label keys are letters, digits, . _ - /'),
  z.string(),
);

export const PoolInput = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'pool names are lowercase letters, digits, . _ - (max 63)'),
  mode: z.enum(POOL_MODES as [PoolMode, ...PoolMode[]]).optional(),
  provider: z.string().optional(),
  /** The project (id or name) whose sessions alone may use the pool; null: every project of the org. */
  project: z.string().min(1).nullable().optional(),
  priority: z.number().int().optional(),
  active: z.boolean().optional(),
  labels: labelsInput.optional(),
  minRunners: z.number().int().min(0).optional(),
  maxRunners: z.number().int().min(0).nullable().optional(),
  idleTimeout: durationInput.nullable().optional(),
  selector: z
    .union([z.string(), z.record(z.string(), z.string())])
    .nullable()
    .optional(),
  runtimeProvides: z.unknown().optional(),
  sandboxConfig: z.record(z.string(), z.unknown()).optional(),
  /** The pool's egress policy (`egress`: none | open | { allow: [...] }); null: its provider's default. */
  network: NetworkInput.nullable().optional(),
  lifecycle: z.enum(LIFECYCLES as [string, ...string[]]).optional(),
  sandboxMode: z.enum(SANDBOX_MODES as [string, ...string[]]).optional(),
  suspendConfig: z
    .strictObject({
      strategy: z.string().optional(),
      fallback: z.string().optional(),
      minDuration: durationInput.optional(),
      maxDuration: durationInput.nullable().optional(),
      /** Suspend idle sessions for waiting ones (null: the server's `sessions.preempt_idle`). */
      preemptIdle: z.boolean().nullable().optional(),
    })
    .optional(),
});
export type PoolInput = z.infer<typeof PoolInput>;
export const PoolUpdate = PoolInput.partial().omit({ name: true });

export const ProfileInput = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'profile names are lowercase letters, digits, . _ -'),
  description: z.string().default(''),
  selector: z.string().nullable().optional(),
  resources: z
    .strictObject({ cpu: z.string().optional(), memory: z.string().optional(), gpu: z.string().optional() })
    .default({}),
  providerPreference: z.array(z.string()).default([]),
  /** Task timeout (ms) for sessions with this profile. */
  taskTimeoutMs: z.number().int().positive().nullable().optional(),
});
export type ProfileInput = z.infer<typeof ProfileInput>;

// ---- registration tokens

export const CreateTokenBody = z.strictObject({
  pool: z.string().min(1),
  /** Duration until the token stops working (e.g. `24h`); default: never. */
  expiresIn: durationInput.optional(),
  oneTime: z.boolean().optional(),
  description: z.string().max(200).optional(),
});
export const RotateTokenBody = z.strictObject({
  /** How long the old token keeps working (e.g. `10m`, `0` for not at all). Default 1h. */
  grace: durationInput.optional(),
  expiresIn: durationInput.optional(),
});
export const RegisterExternalBody = z.strictObject({
  /** An external (or pool) pool; default: the only external pool, created as `external` if none. */
  pool: z.string().min(1).optional(),
  labels: z.union([z.string(), z.record(z.string(), z.string())]).optional(),
  name: z.string().min(1).max(200).optional(),
  expiresIn: durationInput.optional(),
});

/** Org, project and member names: lowercase letters, digits, . _ - (max 63). */
const tenancyName = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9._-]{0,62}$/,
    'names are lowercase letters, digits, . _ - (max 63), starting with a letter or digit',
  );

export const OrgInput = z.strictObject({ name: tenancyName });
export const ProjectInput = z.strictObject({ name: tenancyName });
/** The roles a member (and an API token) may have. */
export const MEMBER_ROLES = ['admin', 'operator', 'member', 'viewer'] as const;
export const MemberInput = z.strictObject({
  /** A user name or email address. */
  name: z.string().min(1).max(254).regex(/^\S+$/, 'a member is a user name or email address, without spaces'),
  role: z.enum(MEMBER_ROLES),
});
export const DeleteOrgQuery = z.strictObject({
  /** Delete everything the org owns with it (refused while a session is open or a runner live). */
  force: z
    .enum(['true', 'false', '1', '0'])
    .optional()
    .transform((v) => v === 'true' || v === '1'),
});
