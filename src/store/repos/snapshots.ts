/**
 * @module Workspace snapshots (`snapshots`, migration 013): the rows that say which manifests in the
 * content-addressable store are kept. A row is added only after its manifest and chunks are stored
 * (the store is written first, the row last), so a crash in between leaves unreferenced chunks for
 * the garbage collector, never a row pointing at missing data. Retention deletes rows; the
 * collector (src/server/workspace-gc.ts) then frees what no remaining row reaches.
 */
import type { Kysely } from 'kysely';
import type { Database, SnapshotsTable } from '../schema.js';
import { inScope, type OrgScope } from '../scope.js';

/** A snapshot as the API shows it. */
export interface Snapshot {
  id: string;
  orgId: string;
  sessionId: string;
  parentId: string | null;
  manifestId: string;
  reason: 'checkpoint' | 'suspend' | 'fork';
  files: number;
  bytes: number;
  bytesNew: number;
  pinned: boolean;
  runnerId: string | null;
  createdAt: number;
}

export type NewSnapshot = Omit<Snapshot, 'createdAt'> & { createdAt?: number };

function toSnapshot(r: SnapshotsTable): Snapshot {
  return {
    id: r.id,
    orgId: r.org_id,
    sessionId: r.session_id,
    parentId: r.parent_id,
    manifestId: r.manifest_id,
    reason: r.reason as Snapshot['reason'],
    files: Number(r.files),
    bytes: Number(r.bytes),
    bytesNew: Number(r.bytes_new),
    pinned: Number(r.pinned) === 1,
    runnerId: r.runner_id,
    createdAt: Number(r.created_at),
  };
}

export class SnapshotRepo {
  constructor(private readonly db: Kysely<Database>) {}

  async add(s: NewSnapshot): Promise<Snapshot> {
    const row: SnapshotsTable = {
      id: s.id,
      org_id: s.orgId,
      session_id: s.sessionId,
      parent_id: s.parentId,
      manifest_id: s.manifestId,
      reason: s.reason,
      files: s.files,
      bytes: s.bytes,
      bytes_new: s.bytesNew,
      pinned: s.pinned ? 1 : 0,
      runner_id: s.runnerId,
      created_at: s.createdAt ?? Date.now(),
    };
    await this.db.insertInto('snapshots').values(row).execute();
    return toSnapshot(row);
  }

  /** One snapshot of the caller's org, or null. */
  get(scope: OrgScope, id: string): Promise<Snapshot | null> {
    return inScope(scope, async () => {
      const r = await this.db
        .selectFrom('snapshots')
        .selectAll()
        .where('id', '=', id)
        .where('org_id', '=', scope.orgId)
        .executeTakeFirst();
      return r ? toSnapshot(r) : null;
    });
  }

  /** An org's snapshots, newest first, optionally of one session. */
  list(scope: OrgScope, filter: { sessionId?: string; limit: number }): Promise<Snapshot[]> {
    return inScope(scope, async () => {
      let q = this.db.selectFrom('snapshots').selectAll().where('org_id', '=', scope.orgId);
      if (filter.sessionId) q = q.where('session_id', '=', filter.sessionId);
      const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(filter.limit).execute();
      return rows.map(toSnapshot);
    });
  }

  /** The newest snapshot of a session (system use: resume), or null. */
  async latest(sessionId: string): Promise<Snapshot | null> {
    const r = await this.db
      .selectFrom('snapshots')
      .selectAll()
      .where('session_id', '=', sessionId)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    return r ? toSnapshot(r) : null;
  }

  /** One snapshot by id across orgs (system use), or null. */
  async byId(id: string): Promise<Snapshot | null> {
    const r = await this.db.selectFrom('snapshots').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toSnapshot(r) : null;
  }

  /** The manifests a session's snapshots name (system use: what the session's runner may read). */
  async manifestIdsOf(sessionId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('snapshots')
      .select('manifest_id')
      .where('session_id', '=', sessionId)
      .distinct()
      .execute();
    return rows.map((r) => r.manifest_id);
  }

  /** Every manifest a kept snapshot names (the garbage collector's roots), deduplicated. */
  async manifestIds(): Promise<string[]> {
    const rows = await this.db.selectFrom('snapshots').select('manifest_id').distinct().execute();
    return rows.map((r) => r.manifest_id);
  }

  /**
   * Retention: of each session's unpinned snapshots, keeps the newest `keep` and deletes the rest;
   * every snapshot of a session that no longer exists, or that ended before `endedBefore`, goes
   * too (pinned or not). Returns the ids deleted.
   */
  async applyRetention(keep: number, endedBefore: number): Promise<string[]> {
    const ids = await this.retentionPlan(keep, endedBefore);
    for (let i = 0; i < ids.length; i += 500)
      await this.db
        .deleteFrom('snapshots')
        .where('id', 'in', ids.slice(i, i + 500))
        .execute();
    return ids;
  }

  /** Every snapshot's id and manifest (what a dry run of the collector starts from). */
  async roots(): Promise<{ id: string; manifestId: string }[]> {
    const rows = await this.db.selectFrom('snapshots').select(['id', 'manifest_id']).execute();
    return rows.map((r) => ({ id: r.id, manifestId: r.manifest_id }));
  }

  /** The ids `applyRetention` would delete now, deleting nothing. */
  async retentionPlan(keep: number, endedBefore: number): Promise<string[]> {
    const doomed = new Set<string>();
    const rows = await this.db
      .selectFrom('snapshots')
      .leftJoin('sessions', 'sessions.id', 'snapshots.session_id')
      .select([
        'snapshots.id as id',
        'snapshots.session_id as sessionId',
        'snapshots.pinned as pinned',
        'sessions.id as liveId',
        'sessions.ended_at as endedAt',
      ])
      .orderBy('snapshots.session_id')
      .orderBy('snapshots.created_at', 'desc')
      .orderBy('snapshots.id', 'desc')
      .execute();
    const seen = new Map<string, number>();
    for (const r of rows) {
      if (r.liveId === null || (r.endedAt !== null && Number(r.endedAt) < endedBefore)) {
        doomed.add(r.id);
        continue;
      }
      if (Number(r.pinned) === 1) continue;
      const n = (seen.get(r.sessionId) ?? 0) + 1;
      seen.set(r.sessionId, n);
      if (n > keep) doomed.add(r.id);
    }
    return [...doomed];
  }
}
