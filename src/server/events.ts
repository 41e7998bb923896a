/**
 * @module A typed in-process event bus with namespaced names. Emitting never throws: a failing
 * listener is logged and the others still run, so a broken subscriber cannot stall the
 * scheduler or a runner's log stream.
 */
import type { RunnerMessage } from '../protocol/messages.js';
import type { LogLine, Runner, Session, Task } from '../store/records.js';
import type { Snapshot } from '../store/repos/snapshots.js';

/** Why a runner connection or registration was refused (src/server/runner-credentials.ts), for the audit log. */
export interface RunnerRefusal {
  kind:
    | 'credential_in_use'
    | 'credential_unknown'
    | 'registration_refused'
    | 'registration_rate_limited'
    | 'client_certificate';
  runnerId: string | null;
  poolId: string | null;
  /** The refusal's code (a registration error code, or the close code as text). */
  code: string;
  reason: string;
  /** The peer's address, when known. */
  remote: string | null;
  at: number;
}

export interface EventMap {
  'task:logs': { taskId: string; sessionId: string; lines: LogLine[] };
  'task:updated': { task: Task };
  'session:updated': { session: Session };
  'runner:updated': { runner: Runner };
  /** A runner said hello; `workspaces`: the sessions it holds a per-session workspace for. */
  'runner:connected': { runnerId: string; workspaces: string[] };
  /** A pool was created, changed or deleted; `projectIds`: the projects it was and is given to (null: none). */
  'pool:changed': { poolId: string; orgId?: string; projectIds?: (string | null)[] };
  /** A runner registration or connection was refused (a replayed credential, labels past its pool's bounds...). */
  'runner:refused': RunnerRefusal;
  /** A runner reported on a workspace snapshot the server asked for (src/server/workspace-snapshots.ts). */
  'workspace:report': { runnerId: string; report: WorkspaceReport };
  /** A workspace snapshot was recorded (a checkpoint, a suspend's, a fork's first). */
  'workspace:snapshotted': { snapshot: Snapshot };
}

/** The runner frames about a workspace snapshot. */
export type WorkspaceReport = Extract<RunnerMessage, { type: 'workspace.progress' | 'workspace.snapshotted' }>;

type Listener<K extends keyof EventMap> = (payload: EventMap[K]) => void;

export class EventBus {
  private readonly listeners = new Map<keyof EventMap, Set<Listener<never>>>();
  constructor(private readonly onListenerError: (event: string, error: unknown) => void = () => {}) {}

  on<K extends keyof EventMap>(event: K, fn: Listener<K>): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(fn as Listener<never>);
    return () => set.delete(fn as Listener<never>);
  }

  emit<K extends keyof EventMap>(event: K, payload: EventMap[K]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const fn of set) {
      try {
        (fn as Listener<K>)(payload);
      } catch (e: unknown) {
        this.onListenerError(event, e);
      }
    }
  }
}
