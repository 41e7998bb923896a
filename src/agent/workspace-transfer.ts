/**
 * @module A runner's side of the workspace store: `workspace.snapshot` (snapshot a session's
 * workspace now, sending only the chunks the store lacks through ./gateway-chunks.ts, reporting
 * progress, then `workspace.snapshotted`), and the restore before a task whose assignment names a
 * snapshot (`restore`) when the session's workspace here is empty: a resume or a fork that landed on
 * this runner. A workspace that still holds files (this runner's own, or storage its provider kept)
 * is left as it is: that is the fast path, the store the path that works everywhere.
 *
 * The chunking, manifests and verification are the store library's (src/cas/); this module only
 * moves them over the runner's gateway connection. A failed restore fails the task with the store's
 * error (naming the snapshot and the path), and the workspace is left empty, never half-restored.
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { RunnerMessage, TaskAssignment } from '../protocol/messages.js';
import { GatewayChunks } from './gateway-chunks.js';
import type { Endpoint } from './gateway-client.js';
import { loadWorkspaceCas, type TransferProgress, type WorkspaceCas } from './workspace-cas.js';

/** Least time between two `workspace.progress` frames of one snapshot. */
const PROGRESS_EVERY_MS = 500;

export class WorkspaceTransfers {
  /** The snapshot or restore running per session (one at a time each). */
  private readonly running = new Map<string, Promise<unknown>>();

  /** The transfers of an agent that dials `ep` (`link`: its credential and its frames out). */
  static over(
    ep: Endpoint,
    link: { credential: () => string | null; send: (m: RunnerMessage) => boolean },
    workspaces: { forSession(sessionId: string): string },
    stateDir: string | null,
    log: (m: string) => void,
  ): WorkspaceTransfers {
    const chunks = new GatewayChunks(ep, link.credential);
    const dirOf = (id: string) => workspaces.forSession(id);
    return new WorkspaceTransfers(chunks, link.send, dirOf, stateDir, loadWorkspaceCas, log);
  }

  constructor(
    private readonly chunks: GatewayChunks,
    private readonly send: (m: RunnerMessage) => boolean,
    /** The session's workspace directory here (created if missing). */
    private readonly dirOf: (sessionId: string) => string,
    /** Where the per-session index lives (unchanged files are not read again); null: no index. */
    private readonly stateDir: string | null,
    private readonly loadCas: () => Promise<WorkspaceCas>,
    private readonly log: (m: string) => void,
  ) {}

  private indexPath(sessionId: string): string | null {
    if (!this.stateDir) return null;
    const dir = join(this.stateDir, 'workspace-index');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return join(dir, sessionId);
  }

  /**
   * The session ended here: removes its workspace index (and any temporary file of a save) once
   * a transfer of it still running is over. Resolves when done; never throws.
   */
  forget(sessionId: string): Promise<void> {
    if (!this.stateDir) return Promise.resolve();
    const dir = join(this.stateDir, 'workspace-index');
    return this.serial(sessionId, async () => {
      if (!existsSync(dir)) return;
      for (const name of readdirSync(dir))
        if (name === sessionId || name.startsWith(`${sessionId}.tmp-`)) rmSync(join(dir, name), { force: true });
    }).catch((e: unknown) =>
      this.log(`removing session ${sessionId}'s workspace index failed: ${(e as Error).message}`),
    );
  }

  /** Runs `fn` after whatever transfer of the session is running. */
  private serial<T>(sessionId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.running.get(sessionId) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(fn);
    this.running.set(sessionId, next);
    void next
      .catch(() => undefined)
      .then(() => {
        if (this.running.get(sessionId) === next) this.running.delete(sessionId);
      });
    return next;
  }

  /** `workspace.snapshot`: answers with `workspace.snapshotted` whatever happens. */
  snapshot(ref: string, sessionId: string): void {
    void this.serial(sessionId, async () => {
      let last = 0;
      const progress = (p: TransferProgress) => {
        const now = Date.now();
        if (now - last < PROGRESS_EVERY_MS) return;
        last = now;
        this.send({ type: 'workspace.progress', ref, files: p.files, bytes: p.bytes, bytesNew: p.bytesNew ?? 0 });
      };
      try {
        const cas = await this.loadCas();
        const dir = this.dirOf(sessionId);
        const r = await cas.snapshot(dir, this.chunks, { indexPath: this.indexPath(sessionId), onProgress: progress });
        this.send({ type: 'workspace.snapshotted', ref, sessionId, ok: true, error: null, ...r });
      } catch (e: unknown) {
        const error = (e as Error).message || String(e);
        this.log(`snapshot of session ${sessionId}'s workspace failed: ${error}`);
        this.send({
          type: 'workspace.snapshotted',
          ref,
          sessionId,
          ok: false,
          manifestId: null,
          files: 0,
          bytes: 0,
          bytesNew: 0,
          error: error.slice(0, 8000),
        });
      }
    });
  }

  /**
   * Before a task: restores the assignment's snapshot into `dir` when `dir` is empty. Returns null
   * when the task may run, else why not (the task fails with it).
   */
  prepare(a: TaskAssignment, dir: string, say: (line: string) => void): Promise<string | null> {
    const want = a.restore;
    if (!want) return Promise.resolve(null);
    return this.serial(a.sessionId, async () => {
      if (existsSync(dir) && readdirSync(dir).length > 0) return null;
      say(`restoring the workspace from snapshot ${want.snapshotId}`);
      try {
        const cas = await this.loadCas();
        const started = Date.now();
        const r = await cas.restore(want.manifestId, this.chunks, dir, { onProgress: () => undefined });
        say(
          `restored ${r.files} entries (${r.bytes} bytes) from snapshot ${want.snapshotId} in ${Date.now() - started} ms`,
        );
        return null;
      } catch (e: unknown) {
        return `restoring the workspace from snapshot ${want.snapshotId} failed: ${(e as Error).message}`;
      }
    });
  }

  close(): void {
    this.chunks.close();
  }
}
