/**
 * @module The `workspaces:` section of the server's config: snapshot retention, the scheduled
 * garbage collection of the workspace store, and how long a runner may take to snapshot. (Where the
 * store keeps its bytes is the store library's section, src/cas/.)
 */
import { z } from 'zod';
import { duration, durationField } from './duration.js';

export const workspacesFileSchema = z.strictObject({
  /** Unpinned snapshots kept per session (older ones go at the next collection). Default 5. */
  keep_per_session: z.number().int().min(1).max(10_000).optional(),
  /** An ended session's snapshots are kept this long after it ended, then go. Default 7d. */
  ended_retention: duration.optional(),
  /** How often retention and the store's garbage collection run; 0 turns the schedule off. Default 1h. */
  gc_interval: duration.optional(),
  /** Objects younger than this are never collected (uploads in flight). Default 1h. */
  gc_grace: durationField({ min: 1000 }).optional(),
  /** A runner's snapshot that takes longer fails (the suspend or checkpoint fails with it). Default 30m. */
  snapshot_timeout: durationField({ min: 1000 }).optional(),
});

export interface WorkspacesConfig {
  keepPerSession: number;
  endedRetentionMs: number;
  gcIntervalMs: number;
  gcGraceMs: number;
  snapshotTimeoutMs: number;
}

export function resolveWorkspaces(file: z.infer<typeof workspacesFileSchema> | undefined): WorkspacesConfig {
  return {
    keepPerSession: file?.keep_per_session ?? 5,
    endedRetentionMs: file?.ended_retention ?? 7 * 24 * 3_600_000,
    gcIntervalMs: file?.gc_interval ?? 3_600_000,
    gcGraceMs: file?.gc_grace ?? 3_600_000,
    snapshotTimeoutMs: file?.snapshot_timeout ?? 30 * 60_000,
  };
}
