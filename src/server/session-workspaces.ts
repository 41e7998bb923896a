/**
 * @module Ends the per-session workspaces of runners that dial in (pool and external runners keep
 * each session's files in a directory of its own under their work root, see
 * src/agent/workspaces.ts). When a session ends, every connected runner that ran one of its tasks
 * is sent `session.ended` and removes the directory. A runner that was not connected then names
 * the workspaces it holds in its next `hello` (`runner:connected`), and is sent `session.ended`
 * for each whose session has ended or no longer exists, so an agent restarted after a crash sweeps
 * what it left behind. A suspended session is not ended: its workspace stays, so a
 * `release_to_pool` session resumed on the same runner finds its files.
 */
import { toError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import type { Session } from '../store/records.js';
import type { ServerContext } from './context.js';
import type { Gateway } from './gateway.js';

/** Ended sessions already announced (bounded; a repeat announcement is harmless, only wasted). */
const ANNOUNCED_MAX = 10_000;

export class SessionWorkspaceReaper {
  private readonly announced = new Set<string>();
  private readonly unsubscribe: (() => void)[] = [];

  constructor(
    private readonly ctx: ServerContext,
    private readonly gateway: Pick<Gateway, 'send'>,
  ) {}

  start(): void {
    this.unsubscribe.push(
      this.ctx.bus.on('session:updated', ({ session }) => {
        if (session.endedAt === null || this.announced.has(session.id)) return;
        if (this.announced.size >= ANNOUNCED_MAX) this.announced.clear();
        this.announced.add(session.id);
        void this.sessionEnded(session).catch((e: unknown) =>
          this.ctx.log.warn({ err: toError(e), sessionId: session.id }, 'announcing a session end to runners failed'),
        );
      }),
      this.ctx.bus.on('runner:connected', ({ runnerId, workspaces }) => {
        if (!workspaces.length) return;
        void this.sweep(runnerId, workspaces).catch((e: unknown) =>
          this.ctx.log.warn({ err: toError(e), runnerId }, 'checking a runner’s workspaces failed'),
        );
      }),
    );
  }

  close(): void {
    for (const u of this.unsubscribe.splice(0)) u();
  }

  /** Tells each runner that ran a task of `session` (and is connected) to remove its workspace. */
  private async sessionEnded(session: Session): Promise<void> {
    const runnerIds = new Set<string>();
    if (session.runnerId) runnerIds.add(session.runnerId);
    for (const t of await this.ctx.store.tasks.listBySession(session.id)) if (t.runnerId) runnerIds.add(t.runnerId);
    for (const runnerId of runnerIds) this.announce(runnerId, session.id);
  }

  /** A runner named the workspaces it holds: the ones whose session ended (or is unknown) go. */
  private async sweep(runnerId: string, sessionIds: readonly string[]): Promise<void> {
    const live = new Map((await this.ctx.store.sessions.getMany(sessionIds)).map((s) => [s.id, s]));
    for (const id of sessionIds) {
      const s = live.get(id);
      if (!s || s.endedAt !== null) this.announce(runnerId, id);
    }
  }

  private announce(runnerId: string, sessionId: string): void {
    if (this.gateway.send(runnerId, { type: 'session.ended', ref: newId('cmd'), sessionId }))
      this.ctx.log.debug({ runnerId, sessionId }, 'told runner the session ended');
  }
}
