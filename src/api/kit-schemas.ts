/**
 * @module API schemas for repositories and kits: the session's `repo` and `kits` fields, kit
 * bodies (`/v1/kits`) and git credential bodies (`/v1/git-credentials`).
 */
import { z } from 'zod';

/** The session's repository: cloned into its workspace before the first task. */
export const RepoInput = z
  .strictObject({
    /** https://, http://, ssh://, git@host:path or file:// (file:// for tests and local mirrors). */
    url: z.string().min(1).max(4096),
    /** Branch, tag or commit; default: the remote's default branch. */
    ref: z.string().min(1).max(512).optional(),
    /** Shallow clone of this many commits. */
    depth: z.number().int().min(1).max(1_000_000).optional(),
    /** Every branch and tag (routes to pools providing `full-history-clone`). */
    fullHistory: z.boolean().optional(),
  })
  .refine((r) => !(r.depth && r.fullHistory), { message: 'depth and fullHistory exclude each other' });
export type RepoInput = z.infer<typeof RepoInput>;

/** `id@version` (or `id` when the kit has one version). */
export const KitRefs = z.array(z.string().min(1).max(200)).max(32);

const Commands = z.array(z.string().min(1).max(65536)).max(256);

export const KitBody = z.strictObject({
  id: z.string().min(1).max(63),
  version: z.string().min(1).max(63),
  description: z.string().max(2000).optional(),
  os: z.array(z.string().min(1).max(32)).min(1).max(8).optional(),
  detect: z.string().max(65536).nullable().optional(),
  installCommands: Commands.optional(),
  postAcquire: Commands.optional(),
  preRelease: Commands.optional(),
  env: z.record(z.string(), z.string().max(65536)).optional(),
});
export type KitBody = z.infer<typeof KitBody>;

export const GitCredentialBody = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('token'),
    /** Default `x-access-token`. */
    username: z.string().min(1).max(256).optional(),
    secret: z.string().min(1).max(16384),
  }),
  z.strictObject({ kind: z.literal('ssh-key'), secret: z.string().min(1).max(65536) }),
]);
export type GitCredentialBody = z.infer<typeof GitCredentialBody>;

/** A kit as the API answers it. */
export const KitResponse = z.looseObject({
  id: z.string(),
  version: z.string(),
  os: z.array(z.string()),
  detect: z.string().nullable(),
  installCommands: z.array(z.string()),
  postAcquire: z.array(z.string()),
  preRelease: z.array(z.string()),
  env: z.record(z.string(), z.string()),
  description: z.string(),
  builtIn: z.boolean(),
  /** Where it is defined: builtin, config or api. */
  source: z.enum(['builtin', 'config', 'api']),
});

/** A git credential as the API answers it: never the secret. */
export const GitCredentialResponse = z.looseObject({
  host: z.string(),
  kind: z.enum(['token', 'ssh-key']),
  username: z.string().nullable(),
  createdAt: z.number(),
});
