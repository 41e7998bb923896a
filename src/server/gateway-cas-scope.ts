/**
 * @module Which objects a runner may read from the workspace store over the gateway: those
 * reachable from the manifests of its own session's snapshots (what its restores read), and
 * those it uploaded itself. Knowing an address is not enough: a runner that learnt another
 * session's chunk ids (from a log, say) reads nothing of them.
 *
 * Reachable sets are marked (manifest root, manifest chunks, file chunks) the first time a runner
 * reads an id it is not yet known to be allowed, then kept per runner, so a restore costs one
 * query of the session's snapshots and one pass over each manifest; an id outside them costs a
 * query each time (the snapshots may have changed). At most `MAX_RUNNERS` runners' sets are kept
 * (least recently used go) and at most `MAX_UPLOADS` uploaded ids per runner (oldest go: those
 * are still readable once a snapshot names them).
 */
import { markManifest } from '../cas/index.js';
import type { ChunkSource } from '../cas/types.js';
import type { Runner } from '../store/records.js';

const MAX_RUNNERS = 64;
const MAX_UPLOADS = 200_000;

interface RunnerScope {
  sessionId: string | null;
  /** Manifests already marked into `reachable`. */
  manifests: Set<string>;
  reachable: Set<string>;
  uploaded: Set<string>;
}

export class RunnerReadScope {
  private readonly runners = new Map<string, RunnerScope>();

  constructor(
    private readonly source: ChunkSource,
    /** The manifest ids of a session's snapshots (system read). */
    private readonly manifestsOf: (sessionId: string) => Promise<string[]>,
  ) {}

  private scope(runner: Runner): RunnerScope {
    let s = this.runners.get(runner.id);
    if (s) this.runners.delete(runner.id);
    if (!s || s.sessionId !== runner.sessionId) {
      // A runner bound to another session reads nothing of its previous one's snapshots.
      s = {
        sessionId: runner.sessionId,
        manifests: new Set(),
        reachable: new Set(),
        uploaded: s?.uploaded ?? new Set(),
      };
    }
    this.runners.set(runner.id, s); // most recently used last
    if (this.runners.size > MAX_RUNNERS) this.runners.delete(this.runners.keys().next().value as string);
    return s;
  }

  /** Records ids the runner stored (it may read them back). */
  uploaded(runner: Runner, ids: Iterable<string>): void {
    const s = this.scope(runner);
    for (const id of ids) {
      s.uploaded.delete(id);
      s.uploaded.add(id);
      if (s.uploaded.size > MAX_UPLOADS) s.uploaded.delete(s.uploaded.values().next().value as string);
    }
  }

  /** Whether `runner` may read object `id`. */
  async mayRead(runner: Runner, id: string): Promise<boolean> {
    const s = this.scope(runner);
    if (s.reachable.has(id) || s.uploaded.has(id)) return true;
    if (!s.sessionId) return false;
    for (const m of await this.manifestsOf(s.sessionId)) {
      if (s.manifests.has(m)) continue;
      try {
        await markManifest(this.source, m, s.reachable);
      } catch {
        // A manifest that cannot be read whole grants what was marked of it; its restore fails
        // with its own message when it reaches the missing part.
      }
      s.manifests.add(m);
    }
    return s.reachable.has(id);
  }
}
