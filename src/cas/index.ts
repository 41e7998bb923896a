/**
 * @module The content-addressable store's public surface: backends, snapshot, restore, manifests,
 * the workspace index and garbage collection.
 */
export { type ChunkSizes, DEFAULT_CHUNK_SIZES } from './chunker.js';
export {
  type Codec,
  type CodecName,
  CorruptObject,
  DEFAULT_CODEC,
  decodeVerified,
  encode,
  hashId,
  isId,
} from './codec.js';
export { FsBackend, type FsBackendOptions } from './fs-backend.js';
export { WorkspaceIndex } from './index-file.js';
export { BadManifest, MissingObject, readManifest, readManifestRoot } from './manifest.js';
export { RESTORE_MARKER, RestoreFailed, restoreDir } from './restore.js';
export { snapshotDir } from './snapshot.js';
export type * from './types.js';
