/**
 * @module The store library (src/cas/) as ./workspace-transfer.ts uses it, loaded on first use (a
 * runner that never snapshots never loads it).
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
  throw new Error('this agent was built without the workspace store (src/cas/)');
}
