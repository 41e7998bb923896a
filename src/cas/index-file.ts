/**
 * @module The workspace index a runner keeps between snapshots: for each file its stamp (size,
 * mtime, ctime, inode) and the chunk ids it had, so `snapshotDir` does not read an unchanged file
 * again; for each directory and symlink its stamp, so a tree found exactly as recorded reuses the
 * previous manifest whole. Lookups read the index of the previous snapshot; `record` builds the
 * next one, so entries that are gone drop out when it is saved. Saved as newline-delimited JSON next to (never inside)
 * the workspace, written to a temporary file and renamed; a missing or unreadable index is simply
 * empty (every file is read again, nothing is lost).
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { isId } from './codec.js';
import type { FileStamp, WorkspaceIndexLike } from './types.js';

interface Row {
  stamp: FileStamp;
  chunks: string[];
  /** A directory or symlink; a file when absent. */
  kind?: 'd' | 'l';
}

const NO_CHUNKS: string[] = [];

function sameStamp(a: FileStamp, b: FileStamp): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.ino === b.ino;
}

export class WorkspaceIndex implements WorkspaceIndexLike {
  private prev: Map<string, Row>;
  private next = new Map<string, Row>();
  /** Whether `record` saw anything that differs from `prev` (else an unchanged index is not rewritten). */
  private changed = false;
  /** The manifest the index file on disk describes. */
  private savedManifest: string | null;

  constructor(
    rows: Map<string, Row> = new Map(),
    /** Manifest id of the snapshot this index describes (null when new). */
    readonly manifestId: string | null = null,
  ) {
    this.prev = rows;
    this.savedManifest = manifestId;
  }

  get size(): number {
    return this.prev.size;
  }

  lookup(path: string, stamp: FileStamp): string[] | undefined {
    const r = this.prev.get(path);
    return r && !r.kind && sameStamp(r.stamp, stamp) ? r.chunks : undefined;
  }

  record(path: string, stamp: FileStamp, chunks: string[]): void {
    const r = this.prev.get(path);
    const same = r !== undefined && !r.kind && r.chunks === chunks && sameStamp(r.stamp, stamp);
    if (!same) this.changed = true;
    this.next.set(path, same ? r : { stamp: { ...stamp }, chunks });
  }

  recordEntry(path: string, kind: 'd' | 'l', stamp: FileStamp): void {
    const r = this.prev.get(path);
    const same = r !== undefined && r.kind === kind && sameStamp(r.stamp, stamp);
    if (!same) this.changed = true;
    this.next.set(path, same ? r : { stamp: { ...stamp }, chunks: NO_CHUNKS, kind });
  }

  matches(path: string, kind: 'f' | 'd' | 'l', stamp: FileStamp): boolean {
    const r = this.prev.get(path);
    return r !== undefined && (r.kind ?? 'f') === kind && sameStamp(r.stamp, stamp);
  }

  whole(): { manifestId: string; entries: number; files: number; bytes: number; chunks: string[] } | null {
    if (!this.savedManifest || this.prev.size === 0) return null;
    let bytes = 0;
    let files = 0;
    const chunks: string[] = [];
    for (const r of this.prev.values())
      if (!r.kind) {
        files++;
        bytes += r.stamp.size;
        for (const c of r.chunks) chunks.push(c);
      }
    return { manifestId: this.savedManifest, entries: this.prev.size, files, bytes, chunks };
  }

  keepAll(): void {
    this.next = new Map(this.prev);
  }

  /** Loads an index file; a missing or damaged one gives an empty index. */
  static async load(file: string): Promise<WorkspaceIndex> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      return new WorkspaceIndex();
    }
    const rows = new Map<string, Row>();
    let manifestId: string | null = null;
    try {
      for (const line of text.split('\n')) {
        if (!line) continue;
        const o = JSON.parse(line) as { manifest?: string; p?: string; s?: number[]; c?: string[]; k?: unknown };
        if (typeof o.manifest === 'string') {
          manifestId = isId(o.manifest) ? o.manifest : null;
          continue;
        }
        const [size, mtimeMs, ctimeMs, ino] = o.s ?? [];
        if (
          typeof o.p !== 'string' ||
          !Array.isArray(o.c) ||
          !o.c.every((c) => typeof c === 'string' && isId(c)) ||
          ![size, mtimeMs, ctimeMs, ino].every((n) => typeof n === 'number') ||
          (o.k !== undefined && o.k !== 'd' && o.k !== 'l')
        )
          return new WorkspaceIndex();
        const stamp = { size, mtimeMs, ctimeMs, ino } as FileStamp;
        rows.set(o.p, o.k ? { stamp, chunks: NO_CHUNKS, kind: o.k } : { stamp, chunks: o.c });
      }
    } catch {
      return new WorkspaceIndex();
    }
    return new WorkspaceIndex(rows, manifestId);
  }

  /**
   * Writes what the last snapshot recorded (and makes it the index lookups read from). Call it
   * only after the snapshot succeeded and, where a database records snapshots, after its row is
   * committed.
   */
  async save(file: string, manifestId: string): Promise<void> {
    if (!this.changed && this.next.size === this.prev.size && manifestId === this.savedManifest) {
      // Every file as it was, under the same manifest: the file on disk already says all this.
      this.next = new Map();
      return;
    }
    const lines = [JSON.stringify({ manifest: manifestId })];
    for (const [p, r] of this.next) {
      const s = [r.stamp.size, r.stamp.mtimeMs, r.stamp.ctimeMs, r.stamp.ino];
      lines.push(JSON.stringify(r.kind ? { p, s, c: [], k: r.kind } : { p, s, c: r.chunks }));
    }
    const tmp = `${file}.tmp-${process.pid}`;
    await writeFile(tmp, `${lines.join('\n')}\n`);
    await rename(tmp, file);
    this.prev = this.next;
    this.next = new Map();
    this.changed = false;
    this.savedManifest = manifestId;
  }
}
