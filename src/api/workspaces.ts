/**
 * @module The workspace API's request and response schemas (snapshots, forks, downloads, diffs,
 * collection), shared by the server's routes (src/server/routes/workspaces.ts), the typed client
 * and `mctl workspaces` / `mctl sessions snapshot|fork`.
 */
import { z } from 'zod';

export const Snapshot = z.looseObject({
  id: z.string(),
  sessionId: z.string(),
  parentId: z.string().nullable(),
  manifestId: z.string(),
  reason: z.enum(['checkpoint', 'suspend', 'fork']),
  files: z.number(),
  bytes: z.number(),
  bytesNew: z.number(),
  pinned: z.boolean(),
  runnerId: z.string().nullable(),
  createdAt: z.number(),
});
export type Snapshot = z.infer<typeof Snapshot>;

/** A snapshot in flight: how far the runner has got. */
export const SnapshotProgress = z.looseObject({
  sessionId: z.string(),
  runnerId: z.string(),
  startedAt: z.number(),
  files: z.number(),
  bytes: z.number(),
  bytesNew: z.number(),
});

/** GET /v1/sessions/:id/workspace: the newest snapshot and the one in flight. */
export const SessionWorkspace = z.looseObject({
  sessionId: z.string(),
  latest: Snapshot.nullable(),
  inFlight: SnapshotProgress.nullable(),
});

export const SnapshotEntry = z.looseObject({
  path: z.string(),
  type: z.enum(['file', 'dir', 'symlink']),
  mode: z.number(),
  size: z.number(),
  mtimeMs: z.number(),
  target: z.string().optional(),
});

export const SnapshotDetail = Snapshot.extend({ entries: z.array(SnapshotEntry).optional(), truncated: z.boolean() });

export const SnapshotDiff = z.looseObject({
  from: z.string(),
  to: z.string(),
  added: z.array(z.string()),
  removed: z.array(z.string()),
  changed: z.array(z.string()),
});

export const GcReport = z.looseObject({
  dryRun: z.boolean(),
  /** Snapshot rows retention removed (or would). */
  snapshotsDeleted: z.number(),
  /** Store objects freed (or that would be), and their stored bytes. */
  objectsFreed: z.number(),
  bytesFreed: z.number(),
  /** Objects kept because something references them, or because they are younger than the grace period. */
  objectsKept: z.number(),
});
export type GcReport = z.infer<typeof GcReport>;

export const SnapshotBody = z
  .strictObject({
    /** Keep it whatever the retention (default true: a checkpoint you asked for). */
    pin: z.boolean().optional(),
  })
  .optional();

export const ForkBody = z
  .strictObject({
    /** The snapshot to start from (default: the session's newest). */
    snapshot: z.string().min(1).optional(),
    /** The new session's first task. */
    prompt: z.string().optional(),
    /** Place the fork elsewhere than the source session's request says. */
    provider: z.string().min(1).optional(),
    pool: z.string().min(1).optional(),
  })
  .optional();

export const ListSnapshotsQuery = z.strictObject({
  session: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
});

export const ShowSnapshotQuery = z.strictObject({
  /** List the snapshot's entries too (at most `limit`). */
  entries: z.enum(['1', 'true']).optional(),
  limit: z.coerce.number().int().min(1).max(100_000).default(1000),
});

export const GcBody = z.strictObject({ dryRun: z.boolean().optional() }).optional();
