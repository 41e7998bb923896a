/**
 * @module The store library (src/cas/) as ./workspace-transfer.ts uses it, loaded on first use (a
 * runner that never snapshots never loads it); the workspace index lives in the agent's state dir.
 */
import type { GatewayChunks } from './gateway-chunks.js';

/** Progress as the store library reports it. */
export interface TransferProgress {
  files: number;
  bytes: number;
  bytesNew?: number;
}

/** What this module needs of the store library (src/cas/), adapted in ./workspace-cas.ts. */
export interface WorkspaceCas {
  snapshot(
    dir: string,
    sink: Pick<GatewayChunks, 'has' | 'put'>,
    opts: { indexPath: string | null; onProgress: (p: TransferProgress) => void },
  ): Promise<{ manifestId: string; files: number; bytes: number; bytesNew: number }>;
  restore(
    manifestId: string,
    source: Pick<GatewayChunks, 'get'>,
    dir: string,
    opts: { onProgress: (p: TransferProgress) => void },
  ): Promise<{ files: number; bytes: number }>;
}

export async function loadWorkspaceCas(): Promise<WorkspaceCas> {
  const cas = await import('../cas/index.js');
  return {
    async snapshot(dir, sink, opts) {
      const index = opts.indexPath ? await cas.WorkspaceIndex.load(opts.indexPath) : undefined;
      const r = await cas.snapshotDir(dir, sink, index, { onProgress: opts.onProgress });
      // Saved only after the snapshot is whole: a failed one leaves the previous index in place.
      if (index && opts.indexPath) await index.save(opts.indexPath, r.manifestId);
      return { manifestId: r.manifestId, files: r.files, bytes: r.bytes, bytesNew: r.bytesNew };
    },
    restore: (manifestId, source, dir, opts) =>
      cas.restoreDir(manifestId, source, dir, { onProgress: opts.onProgress }),
  };
}
