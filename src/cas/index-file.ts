/**
 * @module The workspace index a runner keeps between snapshots: for each file its stamp (size,
 * mtime, ctime, inode) and the chunk ids it had, so `snapshotDir` does not read an unchanged file
 * again. Lookups read the index of the previous snapshot; `record` builds the next one, so files
 * that are gone drop out when it is saved. Saved as newline-delimited JSON next to (never inside)
 * the workspace, written to a temporary file and renamed; a missing or unreadable index is simply
 * empty (every file is read again, nothing is lost).
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { isId } from './codec.js';
import type { FileStamp, WorkspaceIndexLike } from './types.js';

interface Row {
  stamp: FileStamp;
  chunks: string[];
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
    if (!r) return undefined;
    const s = r.stamp;
    return s.size === stamp.size && s.mtimeMs === stamp.mtimeMs && s.ctimeMs === stamp.ctimeMs && s.ino === stamp.ino
      ? r.chunks
      : undefined;
  }

  record(path: string, stamp: FileStamp, chunks: string[]): void {
    const r = this.prev.get(path);
    const same =
      r !== undefined &&
      r.chunks === chunks &&
      r.stamp.size === stamp.size &&
      r.stamp.mtimeMs === stamp.mtimeMs &&
      r.stamp.ctimeMs === stamp.ctimeMs &&
      r.stamp.ino === stamp.ino;
    if (!same) this.changed = true;
    this.next.set(path, same ? r : { stamp: { ...stamp }, chunks });
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
        const o = JSON.parse(line) as { manifest?: string; p?: string; s?: number[]; c?: string[] };
        if (typeof o.manifest === 'string') {
          manifestId = isId(o.manifest) ? o.manifest : null;
          continue;
        }
        const [size, mtimeMs, ctimeMs, ino] = o.s ?? [];
        if (
          typeof o.p !== 'string' ||
          !Array.isArray(o.c) ||
          !o.c.every((c) => typeof c === 'string' && isId(c)) ||
          ![size, mtimeMs, ctimeMs, ino].every((n) => typeof n === 'number')
        )
          return new WorkspaceIndex();
        rows.set(o.p, { stamp: { size, mtimeMs, ctimeMs, ino } as FileStamp, chunks: o.c });
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
    for (const [p, r] of this.next)
      lines.push(JSON.stringify({ p, s: [r.stamp.size, r.stamp.mtimeMs, r.stamp.ctimeMs, r.stamp.ino], c: r.chunks }));
    const tmp = `${file}.tmp-${process.pid}`;
    await writeFile(tmp, `${lines.join('\n')}\n`);
    await rename(tmp, file);
    this.prev = this.next;
    this.next = new Map();
    this.changed = false;
    this.savedManifest = manifestId;
  }
}
