/**
 * @module The server's workspace store, wired: the backend (`workspaces.store`: the filesystem
 * under `$MARIONETTE_HOME/cas` by default, or S3), the gateway routes runners send chunks
 * through, snapshots taken by runners, and retention with the store's collection, run every
 * `workspaces.gc_interval`.
 */
import { type ChunkBackend, collectGarbage, openBackend } from '../cas/index.js';
import { toError } from '../core/errors.js';
import type { Runner } from '../store/records.js';
import type { ServerContext } from './context.js';
import type { Gateway } from './gateway.js';
import { GatewayCas } from './gateway-cas.js';
import { RunnerReadScope } from './gateway-cas-scope.js';
import { ALWAYS_HELD, type LoopGate } from './loop-lease.js';
import type { WorkspaceRouteDeps } from './routes/workspaces.js';
import { type Collect, WorkspaceGc } from './workspace-gc.js';
import { WorkspaceSnapshots } from './workspace-snapshots.js';

export class WorkspaceStore {
  readonly backend: ChunkBackend;
  readonly snapshots: WorkspaceSnapshots;
  readonly gc: WorkspaceGc;
  readonly gatewayCas: GatewayCas;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly ctx: ServerContext,
    authenticate: (credential: string, from?: string) => Promise<Runner | null>,
    send: Pick<Gateway, 'send'>,
    backend?: ChunkBackend,
  ) {
    this.backend = backend ?? openBackend(ctx.config.workspaces.store, ctx.config.home);
    this.snapshots = new WorkspaceSnapshots(ctx, send);
    this.gc = new WorkspaceGc(ctx, collectWith(this.backend));
    const readScope = new RunnerReadScope(this.backend, (sessionId) => ctx.store.snapshots.manifestIdsOf(sessionId));
    this.gatewayCas = new GatewayCas(ctx, this.backend, authenticate, readScope);
  }

  /** What the API routes use. */
  get routes(): WorkspaceRouteDeps {
    return { snapshots: this.snapshots, source: this.backend, gc: this.gc };
  }

  /** Collection runs only while `gcGate` is held (the singleton loop lease, src/server/loop-lease.ts). */
  start(gcGate: LoopGate = ALWAYS_HELD): void {
    this.snapshots.start();
    const every = this.ctx.config.workspaces.gcIntervalMs;
    if (every <= 0) return;
    this.timer = setInterval(() => {
      if (!gcGate.held) return;
      this.gc.run(false).catch((e: unknown) => this.ctx.log.warn({ err: toError(e) }, 'workspace collection failed'));
    }, every);
    this.timer.unref();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.snapshots.close();
    await this.backend.close?.();
  }
}

/** The store library's mark and sweep over `backend`, reported as the API shows it. */
function collectWith(backend: ChunkBackend): Collect {
  return async (roots, opts) => {
    const r = await collectGarbage(backend, { roots, graceMs: opts.graceMs, dryRun: opts.dryRun });
    return { objectsFreed: r.deleted, bytesFreed: r.bytesFreed, objectsKept: r.scanned - r.deleted };
  };
}
