/**
 * @module Which live events (`GET /v1/events`, ./routes/events-stream.ts) a token limited to one
 * project may see: the sessions of its project, their tasks and workspace snapshots, the runners
 * that are in a pool given to its project or bound to one of its sessions, and changes of the pools
 * its sessions may use (its project's and those given to no project). Nothing of another
 * project: not its sessions, not its tasks, not a runner while it serves one of its sessions (a
 * runner this stream showed that leaves the project is sent once more with no session, so a page
 * drops the binding, then no longer).
 *
 * Sessions keep their project for life, so what a stream learnt of a session is kept (up to a
 * bound); what it learnt of a pool is forgotten when the pool changes (a pool may be given to
 * another project).
 */
import { orgScope } from '../store/scope.js';
import type { ServerContext } from './context.js';

const MAX_REMEMBERED = 10_000;

/** The runner fields the stream sends. */
export interface RunnerEvent {
  id: string;
  poolId: string;
  state: string;
  sessionId: string | null;
  lastHeartbeatAt: number | null;
}

function remember<K, V>(m: Map<K, V>, k: K, v: V): V {
  if (m.size >= MAX_REMEMBERED) m.clear();
  m.set(k, v);
  return v;
}

export class ProjectEventScope {
  private readonly sessions = new Map<string, boolean>();
  private readonly pools = new Map<string, boolean>();
  private readonly shown = new Set<string>();

  constructor(
    private readonly store: ServerContext['store'],
    private readonly orgId: string,
    readonly projectId: string,
  ) {}

  /** Is this session (whose record is at hand) in the project? */
  session(s: { id: string; projectId: string }): boolean {
    return remember(this.sessions, s.id, s.projectId === this.projectId);
  }

  /** Is the session `id` (of the caller's org) in the project? A session not found is not. */
  async sessionId(id: string): Promise<boolean> {
    const known = this.sessions.get(id);
    if (known !== undefined) return known;
    const s = await this.store.sessions.getIn(orgScope(this.orgId), id);
    return s ? this.session(s) : false;
  }

  private async pool(id: string): Promise<boolean> {
    const known = this.pools.get(id);
    if (known !== undefined) return known;
    const p = await this.store.pools.get(orgScope(this.orgId), id);
    return remember(this.pools, id, p?.projectId === this.projectId);
  }

  /** A pool changed (its project may have): read it again next time. */
  poolChanged(id: string): void {
    this.pools.delete(id);
  }

  /** What to send of this runner's change, or null for nothing. */
  async runner(r: RunnerEvent): Promise<RunnerEvent | null> {
    const mine = (r.sessionId !== null && (await this.sessionId(r.sessionId))) || (await this.pool(r.poolId));
    if (mine) {
      if (this.shown.size >= MAX_REMEMBERED) this.shown.clear();
      this.shown.add(r.id);
      return r;
    }
    if (!this.shown.delete(r.id)) return null;
    return { ...r, sessionId: null };
  }
}
