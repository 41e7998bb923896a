/**
 * @module The `workspaces:` section of the server's config: snapshot retention, the scheduled
 * garbage collection of the workspace store, and how long a runner may take to snapshot. (Where the
 * store keeps its bytes is the store library's section, src/cas/.)
 */
import { z } from 'zod';
import type { StoreOptions } from '../cas/index.js';
import { duration, durationField } from './duration.js';

const storeSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('filesystem'),
    /** Default `$MARIONETTE_HOME/cas`. */
    root: z.string().min(1).optional(),
    /** fsync every object before it is renamed into place. Default false. */
    fsync: z.boolean().optional(),
  }),
  z.strictObject({
    kind: z.literal('s3'),
    bucket: z.string().min(1),
    prefix: z.string().optional(),
    /** An S3-compatible endpoint (MinIO, R2...); default AWS. Credentials: the AWS SDK's standard chain. */
    endpoint: z.string().min(1).optional(),
    region: z.string().min(1).optional(),
  }),
]);

export const workspacesFileSchema = z.strictObject({
  /** Where the store keeps its bytes. Default `{kind: filesystem}` (`$MARIONETTE_HOME/cas`). */
  store: storeSchema.optional(),
  /** Unpinned snapshots kept per session (older ones go at the next collection). Default 5. */
  keep_per_session: z.number().int().min(1).max(10_000).optional(),
  /** An ended session's snapshots are kept this long after it ended, then go. Default 7d. */
  ended_retention: duration.optional(),
  /** How often retention and the store's garbage collection run; 0 turns the schedule off. Default 1h. */
  gc_interval: duration.optional(),
  /**
   * Objects younger than this are never collected (uploads in flight). Must exceed an hour (the
   * backends renew an object older than that when a snapshot reuses it) plus the longest snapshot.
   * Default 24h.
   */
  gc_grace: durationField({ min: 1000 }).optional(),
  /** A runner's snapshot that takes longer fails (the suspend or checkpoint fails with it). Default 30m. */
  snapshot_timeout: durationField({ min: 1000 }).optional(),
});

export interface WorkspacesConfig {
  store: StoreOptions;
  keepPerSession: number;
  endedRetentionMs: number;
  gcIntervalMs: number;
  gcGraceMs: number;
  snapshotTimeoutMs: number;
}

export function resolveWorkspaces(file: z.infer<typeof workspacesFileSchema> | undefined): WorkspacesConfig {
  return {
    store: file?.store ?? { kind: 'filesystem' },
    keepPerSession: file?.keep_per_session ?? 5,
    endedRetentionMs: file?.ended_retention ?? 7 * 24 * 3_600_000,
    gcIntervalMs: file?.gc_interval ?? 3_600_000,
    gcGraceMs: file?.gc_grace ?? 24 * 3_600_000,
    snapshotTimeoutMs: file?.snapshot_timeout ?? 30 * 60_000,
  };
}
