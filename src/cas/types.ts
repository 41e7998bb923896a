/**
 * @module The content-addressable store's contracts: where chunk and manifest bytes live
 * (`ChunkBackend`), what a snapshot writes to (`ChunkSink`) and reads from (`ChunkSource`), and the
 * shapes `snapshotDir` / `restoreDir` take and return. Everything else in src/cas/ implements or
 * uses these; the runner may pass a remote sink/source that talks to the server instead.
 *
 * Objects are keyed by their content address: the lowercase hex SHA-256 of their *plain*
 * (uncompressed) bytes. What a backend stores is the encoded form (see codec.ts: one header byte
 * naming the compression, then the payload), so the same address always maps to the same plain
 * bytes whatever compression each writer chose, and every reader verifies the address after
 * decoding.
 */

/** Where chunk and manifest bytes live, keyed by content address (hex sha-256). */
export interface ChunkBackend {
  /**
   * One boolean per id, in order. A backend refreshes the modification time of an old object it
   * reports present, so that a chunk a writer is about to reference is not swept by a GC that is
   * running at the same time (see gc.ts).
   */
  has(ids: string[]): Promise<boolean[]>;
  /** Idempotent; `data` is the stored (encoded, see codec.ts) form. Never leaves a partial object. */
  put(id: string, data: Uint8Array): Promise<void>;
  /**
   * Optional: stores a batch at once (same contract as `put` for each object; resolves once all
   * are in place). The filesystem backend packs small objects into one file (fs-packs.ts).
   */
  putMany?(objects: { id: string; data: Uint8Array }[]): Promise<void>;
  /** The stored form, or null when absent. */
  get(id: string): Promise<Uint8Array | null>;
  /** Removes what exists among `ids`; absent ids are not an error. */
  delete(ids: string[]): Promise<void>;
  /**
   * Every object with its modification time (ms since the epoch) and, where the backend knows it
   * cheaply, its stored size; in no particular order.
   */
  list(): AsyncIterable<{ id: string; mtimeMs: number; size?: number }>;
  /** Optional: the current modification time of each id (null when absent); the GC re-reads it just before deleting. */
  stat?(ids: string[]): Promise<(number | null)[]>;
  /** Optional: removes leftovers of interrupted puts older than `beforeMs` (the GC calls it). */
  cleanTemporary?(beforeMs: number): Promise<void>;
  /** Optional: releases connections. */
  close?(): Promise<void>;
}

/**
 * What a snapshot writes to: the backend itself, or a remote proxy of it. A sink that can store
 * many objects in one call (the agent's gateway client) offers `putMany`; the uploader then sends
 * each batch's missing chunks in one call instead of one `put` each.
 */
export type ChunkSink = Pick<ChunkBackend, 'has' | 'put' | 'putMany'>;
/** What a restore reads from. */
export type ChunkSource = Pick<ChunkBackend, 'get'>;

/** Entry types in a manifest. */
export type EntryType = 'file' | 'dir' | 'symlink';

/**
 * One entry of a manifest. Paths are relative to the snapshot root, '/'-separated, never starting
 * with '/' and never containing '..' or '.' segments; entries come in a deterministic depth-first
 * order where a directory precedes its contents.
 */
export interface ManifestEntry {
  path: string;
  type: EntryType;
  /** Permission bits (mode & 0o7777). */
  mode: number;
  /** Bytes of content (files), 0 for directories, the target's length for symlinks. */
  size: number;
  /** Modification time in ms since the epoch (integer). */
  mtimeMs: number;
  /** Chunk ids of a file's content in order (empty for an empty file, dirs and symlinks). */
  chunks?: string[];
  /** A symlink's target, as read (never followed). */
  target?: string;
}

/** The content-addressed root object of a manifest (what `manifestId` names). */
export interface ManifestRoot {
  /** Format marker. */
  v: 1;
  kind: 'marionette-manifest';
  /** Entries other than the root directory. */
  files: number;
  /** Sum of file sizes. */
  bytes: number;
  /** The entry list as newline-delimited JSON, content-defined-chunked like any file. */
  chunks: string[];
}

/** What `snapshotDir` returns. */
export interface SnapshotResult {
  /** Address of the manifest root. */
  manifestId: string;
  /** Entries (files, directories, symlinks) other than the root. */
  files: number;
  /** Sum of file sizes (plain bytes). */
  bytes: number;
  /** Encoded bytes that were put because the store lacked them (what a transfer sends). */
  bytesNew: number;
  /** Plain bytes read from disk (files the index could not vouch for). */
  bytesRead: number;
  /** Files whose chunks came from the index without reading them. */
  filesUnchanged: number;
}

/** Progress callback payload (called at most every few hundred ms, and once at the end). */
export interface SnapshotProgress {
  files: number;
  bytes: number;
  bytesNew: number;
}

/** File identity the index compares: a file whose identity is unchanged is not read again. */
export interface FileStamp {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
}

/**
 * An index of a workspace (path → stamp → chunk ids) from its previous snapshot, so an unchanged
 * file is not read again. `WorkspaceIndex` (index-file.ts) implements it and persists it.
 */
export interface WorkspaceIndexLike {
  /** The chunk ids recorded for `path` when its stamp still matches, else undefined. */
  lookup(path: string, stamp: FileStamp): string[] | undefined;
  /** Records what a snapshot found for `path` (called for every file of the snapshot). */
  record(path: string, stamp: FileStamp, chunks: string[]): void;
  /** Records a directory (`d`) or symlink (`l`) of the snapshot with its stamp. */
  recordEntry?(path: string, kind: 'd' | 'l', stamp: FileStamp): void;
  /**
   * The previous snapshot as a whole: its manifest id and what it holds, when the index recorded
   * every one of its entries (else null), with the chunk ids of its files. A walk that finds
   * exactly these entries, stamps unchanged, may reuse that manifest without building a new one.
   */
  whole?(): { manifestId: string; entries: number; files: number; bytes: number; chunks: string[] } | null;
  /** Whether `path` is recorded as this kind (`f` file, `d`, `l`) with this very stamp. */
  matches?(path: string, kind: 'f' | 'd' | 'l', stamp: FileStamp): boolean;
  /** Keeps every recorded entry for the next save: the snapshot found nothing changed. */
  keepAll?(): void;
}

export interface SnapshotOptions {
  /** Ids asked to `sink.has` per call (default 256). */
  batchSize?: number;
  onProgress?: (p: SnapshotProgress) => void;
  /** Aborts the snapshot (nothing is returned; chunks already put stay, unreferenced, for the GC). */
  signal?: AbortSignal;
}

export interface RestoreOptions {
  /** Chunk reads in flight at once (default 8). */
  concurrency?: number;
  onProgress?: (p: { files: number; bytes: number }) => void;
  signal?: AbortSignal;
}

export interface RestoreResult {
  files: number;
  bytes: number;
}
