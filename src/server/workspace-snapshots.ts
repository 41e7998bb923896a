/**
 * @module Snapshots of session workspaces, taken by the runner that holds the files: the server
 * sends `workspace.snapshot`, the runner sends the chunks the store lacks through the gateway's
 * `/v1/cas/` routes (./gateway-cas.ts), reports `workspace.progress` as it goes, then
 * `workspace.snapshotted` with the manifest's address. Only then is the snapshot row written, so a
 * snapshot that fails (a full store, a crash, a timeout) leaves no row pointing at missing data;
 * what it sent stays unreferenced until the collector frees it.
 *
 * One snapshot per session at a time. Progress is kept in memory while a snapshot runs (the API
 * shows it, `mctl` draws a bar from it). A resume or fork restores from the session's newest
 * snapshot: `restoreFor` gives it to the task assignment (src/agent/workspace-transfer.ts).
 */
import { Conflict, ProviderUnavailable } from '../core/errors.js';
import { newId } from '../core/ids.js';
import type { Session } from '../store/records.js';
import type { Snapshot } from '../store/repos/snapshots.js';
import type { ServerContext } from './context.js';
import type { WorkspaceReport } from './events.js';
import type { Gateway } from './gateway.js';

/** A snapshot in flight, as the API shows it. */
export interface SnapshotProgress {
  sessionId: string;
  runnerId: string;
  startedAt: number;
  /** Entries and plain bytes the runner has gone through, and encoded bytes it sent (new to the store). */
  files: number;
  bytes: number;
  bytesNew: number;
}

interface Pending {
  progress: SnapshotProgress;
  settle: (r: Extract<WorkspaceReport, { type: 'workspace.snapshotted' }> | Error) => void;
}

export class WorkspaceSnapshots {
  private readonly pending = new Map<string, Pending>();
  private readonly bySession = new Map<string, string>();
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly ctx: ServerContext,
    private readonly gateway: Pick<Gateway, 'send'>,
  ) {}

  start(): void {
    this.unsubscribe = this.ctx.bus.on('workspace:report', ({ runnerId, report }) => this.onReport(runnerId, report));
  }

  close(): void {
    this.unsubscribe?.();
    for (const p of this.pending.values()) p.settle(new ProviderUnavailable('the server is shutting down'));
  }

  /** The snapshot of `sessionId` in flight, or null. */
  progress(sessionId: string): SnapshotProgress | null {
    const ref = this.bySession.get(sessionId);
    return ref ? { ...this.pending.get(ref)!.progress } : null;
  }

  private onReport(runnerId: string, r: WorkspaceReport): void {
    const p = this.pending.get(r.ref);
    if (!p || p.progress.runnerId !== runnerId) return; // not ours, or another runner's: ignored
    if (r.type === 'workspace.progress') {
      Object.assign(p.progress, { files: r.files, bytes: r.bytes, bytesNew: r.bytesNew });
      return;
    }
    if (r.sessionId !== p.progress.sessionId) return;
    p.settle(r);
  }

  /**
   * Has the runner holding `session`'s workspace snapshot it now, and records the snapshot. Throws
   * Conflict when no connected runner holds it or one is already running, and ProviderUnavailable
   * with the runner's error when the snapshot fails (no row is written then).
   */
  async take(session: Session, opts: { reason: Snapshot['reason']; pinned: boolean }): Promise<Snapshot> {
    const runnerId = session.runnerId;
    if (!runnerId)
      throw new Conflict(`session ${session.id} has no runner holding its workspace (state ${session.state})`, {
        hint: 'snapshot a session while it is active or idle on a runner',
      });
    if (this.bySession.has(session.id))
      throw new Conflict(`a snapshot of session ${session.id} is already running`, {
        hint: 'wait for it: `mctl workspaces list --session ID`',
      });
    const ref = newId('wsn');
    const progress: SnapshotProgress = {
      sessionId: session.id,
      runnerId,
      startedAt: Date.now(),
      files: 0,
      bytes: 0,
      bytesNew: 0,
    };
    let timer: NodeJS.Timeout | undefined;
    const done = new Promise<Extract<WorkspaceReport, { type: 'workspace.snapshotted' }>>((resolve, reject) => {
      this.pending.set(ref, { progress, settle: (r) => (r instanceof Error ? reject(r) : resolve(r)) });
    });
    this.bySession.set(session.id, ref);
    try {
      if (!this.gateway.send(runnerId, { type: 'workspace.snapshot', ref, sessionId: session.id }))
        throw new Conflict(`runner ${runnerId}, which holds session ${session.id}'s workspace, is not connected`);
      const limit = this.ctx.config.workspaces.snapshotTimeoutMs;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new ProviderUnavailable(`runner ${runnerId} did not finish the snapshot in ${limit / 1000} s`)),
          limit,
        );
      });
      const r = await Promise.race([done, timeout]);
      if (!r.ok || !r.manifestId)
        throw new ProviderUnavailable(
          `snapshot of session ${session.id} failed on runner ${runnerId}: ${r.error ?? 'no manifest'}`,
        );
      const parent = await this.ctx.store.snapshots.latest(session.id);
      const snap = await this.ctx.store.snapshots.add({
        id: newId('snp'),
        orgId: session.orgId,
        sessionId: session.id,
        parentId: parent?.id ?? null,
        manifestId: r.manifestId,
        reason: opts.reason,
        files: r.files,
        bytes: r.bytes,
        bytesNew: r.bytesNew,
        pinned: opts.pinned,
        runnerId,
      });
      await this.ctx.store.sessions.addEvent(session.id, session.orgId, 'snapshot_taken', {
        snapshotId: snap.id,
        reason: opts.reason,
        files: snap.files,
        bytes: snap.bytes,
        bytesNew: snap.bytesNew,
      });
      this.ctx.bus.emit('workspace:snapshotted', { snapshot: snap });
      return snap;
    } catch (e: unknown) {
      await this.ctx.store.sessions
        .addEvent(session.id, session.orgId, 'snapshot_failed', { reason: opts.reason, error: (e as Error).message })
        .catch(() => undefined);
      throw e;
    } finally {
      clearTimeout(timer);
      this.pending.delete(ref);
      this.bySession.delete(session.id);
    }
  }

  /** What a task of `sessionId` restores from when its workspace is empty: its newest snapshot. */
  async restoreFor(sessionId: string): Promise<{ snapshotId: string; manifestId: string } | null> {
    const s = await this.ctx.store.snapshots.latest(sessionId);
    return s ? { snapshotId: s.id, manifestId: s.manifestId } : null;
  }
}
