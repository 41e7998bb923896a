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
export { collectGarbage, DEFAULT_GC_GRACE_MS, GcAborted, type GcOptions, type GcResult, markManifest } from './gc.js';
export { WorkspaceIndex } from './index-file.js';
export { BadManifest, MissingObject, readManifest, readManifestRoot } from './manifest.js';
export { openBackend, type StoreOptions } from './open.js';
export { RESTORE_MARKER, RestoreFailed, restoreDir } from './restore.js';
export { S3Backend, type S3BackendOptions } from './s3-backend.js';
export { snapshotDir } from './snapshot.js';
export type * from './types.js';
