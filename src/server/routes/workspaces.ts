/**
 * @module The workspace routes: take a checkpoint of a session now, fork a session from a
 * snapshot, a session's newest snapshot and the one in flight (progress), list and show snapshots,
 * download one as a tar, diff two, and run retention and collection. See docs/workspaces.md.
 */
import { ForkBody, GcBody, ListSnapshotsQuery, ShowSnapshotQuery, SnapshotBody } from '../../api/workspaces.js';
import type { ChunkSource } from '../../cas/index.js';
import { readManifest } from '../../cas/index.js';
import { Conflict, NotFound } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import type { OrgScope } from '../../store/index.js';
import type { Snapshot } from '../../store/repos/snapshots.js';
import type { Api } from '../api.js';
import type { ServerContext } from '../context.js';
import type { SessionService } from '../sessions.js';
import { diffSnapshots } from '../workspace-diff.js';
import type { WorkspaceGc } from '../workspace-gc.js';
import type { WorkspaceSnapshots } from '../workspace-snapshots.js';
import { snapshotTar } from '../workspace-tar.js';
import { sessionWithTasks } from './views.js';

export interface WorkspaceRouteDeps {
  snapshots: WorkspaceSnapshots;
  source: ChunkSource;
  gc: WorkspaceGc;
}

const HINT = 'list snapshots with `mctl workspaces list`';

export function workspaceRoutes(
  api: Api,
  ctx: ServerContext,
  sessions: SessionService,
  deps: WorkspaceRouteDeps,
): void {
  const snapshot = async (org: OrgScope, id: string): Promise<Snapshot> => {
    const s = await ctx.store.snapshots.get(org, id);
    if (!s) throw new NotFound('snapshot', id, HINT);
    return s;
  };
  api.route(
    'POST',
    '/v1/sessions/:id/snapshots',
    { summary: "Snapshot a session's workspace now (a checkpoint)", tag: 'workspaces', body: SnapshotBody },
    async ({ params, body, org }) => {
      const s = await sessions.getSession(org, params.id!);
      return deps.snapshots.take(s, { reason: 'checkpoint', pinned: body?.pin ?? true });
    },
  );
  api.route(
    'POST',
    '/v1/sessions/:id/fork',
    { summary: "Start a new session from a snapshot of this one's workspace", tag: 'workspaces', body: ForkBody },
    async ({ params, body, org }) => {
      const src = await sessions.getSession(org, params.id!);
      const from = body?.snapshot ? await snapshot(org, body.snapshot) : await ctx.store.snapshots.latest(src.id);
      if (!from)
        throw new Conflict(`session ${src.id} has no snapshot to fork from`, {
          hint: 'take one with `mctl sessions snapshot ID`',
        });
      if (from.sessionId !== src.id)
        throw new Conflict(`snapshot ${from.id} is of session ${from.sessionId}, not ${src.id}`);
      const r = src.request;
      // The fork runs what the source ran, where it asked to run (unless told otherwise). Env values
      // are sealed to their session and are not carried over.
      const created = await sessions.createSession(org, {
        agent: r.agent,
        project: src.projectId,
        ...(body?.provider ? { provider: body.provider } : r.provider ? { provider: r.provider } : {}),
        ...(body?.pool ? { pool: body.pool } : r.pool && !body?.provider ? { pool: r.pool } : {}),
        ...(r.selector ? { selector: r.selector } : {}),
        ...(r.profile ? { profile: r.profile } : {}),
        authMode: r.authMode,
        ...(r.priority !== undefined ? { priority: r.priority } : {}),
        ...(r.taskTimeoutMs !== undefined ? { taskTimeoutMs: r.taskTimeoutMs } : {}),
        ...(r.image ? { image: r.image } : {}),
        ...(r.resources ? { resources: r.resources } : {}),
      });
      if ('dryRun' in created) throw new Error('unreachable: a fork is never a dry run');
      const fork = created.session;
      // The fork's first snapshot names the same manifest: every chunk is shared, nothing is copied.
      const first = await ctx.store.snapshots.add({
        id: newId('snp'),
        orgId: fork.orgId,
        sessionId: fork.id,
        parentId: from.id,
        manifestId: from.manifestId,
        reason: 'fork',
        files: from.files,
        bytes: from.bytes,
        bytesNew: 0,
        pinned: false,
        runnerId: null,
      });
      ctx.bus.emit('workspace:snapshotted', { snapshot: first });
      await ctx.store.sessions.addEvent(fork.id, fork.orgId, 'forked', { from: src.id, snapshotId: from.id });
      await ctx.store.sessions.addEvent(src.id, src.orgId, 'fork_created', { sessionId: fork.id, snapshotId: from.id });
      const tasks =
        body?.prompt !== undefined ? [await sessions.createTask(org, fork.id, { prompt: body.prompt })] : [];
      return sessionWithTasks(sessions, fork, tasks);
    },
  );
  api.route(
    'GET',
    '/v1/sessions/:id/workspace',
    { summary: "A session's newest snapshot and the one in flight (progress)", tag: 'workspaces' },
    async ({ params, org }) => {
      const s = await sessions.getSession(org, params.id!);
      return {
        sessionId: s.id,
        latest: await ctx.store.snapshots.latest(s.id),
        inFlight: deps.snapshots.progress(s.id),
      };
    },
  );
  api.route(
    'GET',
    '/v1/workspaces',
    { summary: 'List snapshots, newest first', tag: 'workspaces', query: ListSnapshotsQuery },
    async ({ query, org }) => {
      if (query.session) await sessions.getSession(org, query.session);
      return {
        items: await ctx.store.snapshots.list(org, {
          limit: query.limit,
          ...(query.session ? { sessionId: query.session } : {}),
        }),
      };
    },
  );
  api.route(
    'GET',
    '/v1/workspaces/:id',
    { summary: 'Show a snapshot (and its entries with entries=1)', tag: 'workspaces', query: ShowSnapshotQuery },
    async ({ params, query, org }) => {
      const s = await snapshot(org, params.id!);
      if (!query.entries) return { ...s, truncated: false };
      const entries = [];
      let truncated = false;
      for await (const e of readManifest(deps.source, s.manifestId)) {
        if (entries.length >= query.limit) {
          truncated = true;
          break;
        }
        entries.push({
          path: e.path,
          type: e.type,
          mode: e.mode,
          size: e.size,
          mtimeMs: e.mtimeMs,
          ...(e.target !== undefined ? { target: e.target } : {}),
        });
      }
      return { ...s, entries, truncated };
    },
  );
  api.route(
    'GET',
    '/v1/workspaces/:id/download',
    { summary: 'Download a snapshot as a tar stream', tag: 'workspaces', streams: true },
    async ({ params, org, reply }) => {
      const s = await snapshot(org, params.id!);
      // The manifest root is read first, so a missing snapshot is a problem response, not a cut stream.
      await readManifest(deps.source, s.manifestId).next();
      reply.header('content-type', 'application/x-tar');
      reply.header('content-disposition', `attachment; filename="${s.id}.tar"`);
      return reply.send(snapshotTar(deps.source, s.manifestId));
    },
  );
  api.route(
    'GET',
    '/v1/workspaces/:id/diff/:other',
    { summary: 'What changed from one snapshot to another (added, removed, changed paths)', tag: 'workspaces' },
    async ({ params, org }) => {
      const a = await snapshot(org, params.id!);
      const b = await snapshot(org, params.other!);
      return { from: a.id, to: b.id, ...(await diffSnapshots(deps.source, a.manifestId, b.manifestId)) };
    },
  );
  api.route(
    'POST',
    '/v1/workspaces/gc',
    {
      summary: 'Apply retention and collect the workspace store (dryRun: report only)',
      tag: 'workspaces',
      body: GcBody,
    },
    async ({ body }) => deps.gc.run(body?.dryRun ?? false),
  );
}
