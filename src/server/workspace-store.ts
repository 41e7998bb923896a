/**
 * @module The server's workspace store, wired: the backend (the filesystem under
 * `$MARIONETTE_HOME/cas`), the gateway routes runners send chunks through, snapshots taken by
 * runners, and retention with the store's collection, run every `workspaces.gc_interval`.
 */
import { join } from 'node:path';
import { type ChunkBackend, FsBackend } from '../cas/index.js';
import { ProviderUnavailable, toError } from '../core/errors.js';
import type { Runner } from '../store/records.js';
import type { ServerContext } from './context.js';
import type { Gateway } from './gateway.js';
import { GatewayCas } from './gateway-cas.js';
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
    this.backend = backend ?? new FsBackend(join(ctx.config.home, 'cas'));
    this.snapshots = new WorkspaceSnapshots(ctx, send);
    this.gc = new WorkspaceGc(ctx, collectUnavailable);
    this.gatewayCas = new GatewayCas(ctx, this.backend, authenticate);
  }

  /** What the API routes use. */
  get routes(): WorkspaceRouteDeps {
    return { snapshots: this.snapshots, source: this.backend, gc: this.gc };
  }

  start(): void {
    this.snapshots.start();
    const every = this.ctx.config.workspaces.gcIntervalMs;
    if (every <= 0) return;
    this.timer = setInterval(() => {
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

/** Until the store library's mark and sweep is wired in: retention runs, collection says it cannot. */
const collectUnavailable: Collect = async () => {
  throw new ProviderUnavailable('the workspace store cannot collect yet (its mark and sweep is not built in)');
};
