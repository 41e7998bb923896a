/**
 * @module Retention and collection of the workspace store. Retention deletes snapshot rows
 * (`workspaces.keep_per_session` newest unpinned per session, pinned ones kept; an ended session's
 * after `workspaces.ended_retention`; a session that no longer exists, all), then the store's
 * mark and sweep (src/cas/) frees every object no remaining snapshot reaches and that is older than
 * `workspaces.gc_grace`, so a chunk uploaded while the collector runs is never freed. It runs on a
 * schedule (`workspaces.gc_interval`) and on demand (`POST /v1/workspaces/gc`, `mctl workspaces gc`);
 * one run at a time.
 */
import type { GcReport } from '../api/workspaces.js';
import type { ServerContext } from './context.js';

/** The store's mark and sweep: frees what `roots` do not reach and is older than `graceMs`. */
export type Collect = (
  roots: string[],
  opts: { graceMs: number; dryRun: boolean },
) => Promise<{ objectsFreed: number; bytesFreed: number; objectsKept: number }>;

export class WorkspaceGc {
  private running: Promise<GcReport> | null = null;

  constructor(
    private readonly ctx: ServerContext,
    private readonly collect: Collect,
  ) {}

  /** Retention, then collection; a run already going is joined rather than doubled. */
  run(dryRun: boolean): Promise<GcReport> {
    if (this.running) return this.running;
    const p = this.once(dryRun).finally(() => {
      this.running = null;
    });
    this.running = p;
    return p;
  }

  private async once(dryRun: boolean): Promise<GcReport> {
    const { workspaces } = this.ctx.config;
    const endedBefore = Date.now() - workspaces.endedRetentionMs;
    const { store } = this.ctx;
    const deleted = dryRun
      ? await store.snapshots.retentionPlan(workspaces.keepPerSession, endedBefore)
      : await store.snapshots.applyRetention(workspaces.keepPerSession, endedBefore);
    const doomed = new Set(deleted);
    // A dry run keeps the rows, so its roots leave out the ones retention would delete.
    const roots = dryRun
      ? (await store.snapshots.roots()).filter((r) => !doomed.has(r.id)).map((r) => r.manifestId)
      : await store.snapshots.manifestIds();
    const swept = await this.collect([...new Set(roots)], { graceMs: workspaces.gcGraceMs, dryRun });
    const report: GcReport = { dryRun, snapshotsDeleted: deleted.length, ...swept };
    if (!dryRun && (report.snapshotsDeleted || report.objectsFreed))
      this.ctx.log.info(report, 'workspace store collected');
    return report;
  }
}
