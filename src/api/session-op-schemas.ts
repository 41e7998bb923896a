/**
 * @module API schemas for working with a session's workspace: exec, diff, push, files (cp)
 * (src/server/routes/session-ops.ts).
 */
import { z } from 'zod';

export const ExecBody = z.strictObject({
  /** argv, run as is (no shell): `["bash", "-c", "..."]` for one. */
  command: z.array(z.string().max(65536)).min(1).max(4096),
  /** Killed past this (ms); default 10 minutes, at most 1 hour. */
  timeoutMs: z.number().int().min(1).max(3_600_000).optional(),
});
export const ExecResponse = z.looseObject({
  exitCode: z.number().nullable(),
  error: z.string().nullable(),
  stdout: z.string(),
  stderr: z.string(),
  truncated: z.boolean(),
});
export const DiffResponse = z.looseObject({
  baseCommit: z.string().nullable(),
  diff: z.string(),
  truncated: z.boolean(),
});
export const PushBody = z.strictObject({
  branch: z.string().min(1).max(255),
  /** Commit message; default `Changes from Marionette session <id>`. */
  message: z.string().min(1).max(65536).optional(),
  /** Default `Marionette`. */
  authorName: z.string().min(1).max(256).optional(),
  /** Default `marionette@localhost`. */
  authorEmail: z.string().min(1).max(256).optional(),
});
export const PushResponse = z.looseObject({ branch: z.string(), commit: z.string() });

/** `GET|PUT /v1/sessions/:id/files`: a path in the workspace (relative to it). */
export const FilesQuery = z.strictObject({ path: z.string().min(1).max(4096) });
/** `PUT`: also the name of the one top entry of the tar sent (the local file's or directory's). */
export const PutFilesQuery = FilesQuery.extend({ name: z.string().min(1).max(255) });
export const PutFilesResponse = z.looseObject({ path: z.string(), name: z.string() });
