/**
 * @module Per-session workspaces of a runner that dials in (pool and external runners): each
 * session's tasks run in `<work root>/sessions/<session id>` (the work root is the agent's
 * `--workspace`, default its working directory), created on the session's first assignment and
 * removed when the server says the session ended (`session.ended`). At start the agent names the
 * workspaces it holds in its `hello`, and the server answers `session.ended` for those whose
 * session ended meanwhile or no longer exists, so nothing outlives its session for long.
 *
 * A managed runner (started by a provider for one session, `MARIONETTE_RUNNER_ID` set) already
 * has a workspace of its own (a volume or a per-session directory), so it uses the work root as is.
 *
 * A warm runner of the local provider (started before any session, `MARIONETTE_SESSION_WORKSPACES`
 * set) works for the session it is given in `<that dir>/<session id>`, where the local provider
 * keeps every session's workspace, so a retry or a resume on another runner finds the files. Its
 * own (empty, never used) directory becomes a link to it, so the runner's recorded workspace
 * leads to the session's files too (src/providers/local/provider.ts: restore, destroyStorage).
 */
import { mkdirSync, readdirSync, rmdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';

/** Session ids as the server makes them; anything else is never turned into a path. */
const SESSION_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

export class SessionWorkspaces {
  private readonly dir: string;

  /** The session a warm runner was given (its workspace is linked to that session's). */
  private warmBound: string | null = null;

  /**
   * `perSession` false: every task runs in `root` (a managed runner's own workspace), or, with
   * `sessionRoot` (a warm local runner), in `<sessionRoot>/<session id>`.
   */
  constructor(
    private readonly root: string,
    readonly perSession: boolean,
    private readonly sessionRoot: string | null = null,
  ) {
    this.dir = join(root, 'sessions');
  }

  /** The directory a task of `sessionId` runs in (created, private to the agent's user). */
  forSession(sessionId: string): string {
    if (!this.perSession && this.sessionRoot !== null) return this.warmSession(sessionId);
    if (!this.perSession) return this.root;
    if (!SESSION_ID.test(sessionId)) throw new Error(`session id ${JSON.stringify(sessionId)} is not a safe name`);
    const path = join(this.dir, sessionId);
    mkdirSync(path, { recursive: true, mode: 0o700 });
    return path;
  }

  private warmSession(sessionId: string): string {
    if (!SESSION_ID.test(sessionId)) throw new Error(`session id ${JSON.stringify(sessionId)} is not a safe name`);
    const path = join(this.sessionRoot!, sessionId);
    mkdirSync(path, { recursive: true, mode: 0o700 });
    if (this.warmBound === null) {
      this.warmBound = sessionId;
      try {
        rmdirSync(this.root); // empty: no task ran before the runner had a session
        symlinkSync(sessionId, this.root);
      } catch {
        /* not empty or already linked: the runner's own directory stays as it is */
      }
    }
    return path;
  }

  /** Session ids that have a workspace here (for hello). */
  held(): string[] {
    if (!this.perSession) return [];
    try {
      return readdirSync(this.dir, { withFileTypes: true })
        .filter((d) => d.isDirectory() && SESSION_ID.test(d.name))
        .map((d) => d.name)
        .slice(0, 1000);
    } catch {
      return [];
    }
  }

  /** Removes a session's workspace; false when there was none (or the id is not a session id). */
  remove(sessionId: string): boolean {
    if (!this.perSession || !SESSION_ID.test(sessionId)) return false;
    const path = join(this.dir, sessionId);
    try {
      readdirSync(path);
    } catch {
      return false;
    }
    rmSync(path, { recursive: true, force: true, maxRetries: 3 });
    return true;
  }
}
