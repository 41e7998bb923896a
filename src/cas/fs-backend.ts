/**
 * @module The filesystem backend: one file per object under `<root>/objects/<2 hex>/<62 hex>`
 * (the embedded default, root `$MARIONETTE_HOME/cas`). A put writes a temporary file under
 * `<root>/tmp/` and renames it into place, so a reader or a crash never sees a partial object; a
 * put or a `has` of an object that exists and is older than `refreshAfterMs` sets its mtime to now
 * (the GC's grace period counts from there). A full disk is an `InsufficientStorage` error and
 * leaves nothing behind.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { InsufficientStorage } from '../core/errors.js';
import { isId } from './codec.js';
import type { ChunkBackend } from './types.js';

export interface FsBackendOptions {
  /** fsync each object before it is renamed into place (survives an OS crash; slower). Default false. */
  fsync?: boolean;
  /** A present object older than this gets its mtime refreshed by `has`/`put`. Default 1 hour. */
  refreshAfterMs?: number;
}

function errno(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined;
}

export class FsBackend implements ChunkBackend {
  private readonly objects: string;
  private readonly tmp: string;
  private readonly refreshAfterMs: number;
  private readonly fsync: boolean;

  constructor(
    readonly root: string,
    opts: FsBackendOptions = {},
  ) {
    this.objects = join(root, 'objects');
    this.tmp = join(root, 'tmp');
    this.refreshAfterMs = opts.refreshAfterMs ?? 3_600_000;
    this.fsync = opts.fsync ?? false;
    mkdirSync(this.objects, { recursive: true });
    mkdirSync(this.tmp, { recursive: true });
  }

  private path(id: string): string {
    if (!isId(id)) throw new RangeError(`not a content address: ${JSON.stringify(id)}`);
    return join(this.objects, id.slice(0, 2), id.slice(2));
  }

  /** mtime of `p` (refreshed when old), or null when absent. */
  private async present(p: string): Promise<boolean> {
    try {
      const st = await stat(p);
      const now = Date.now();
      if (now - st.mtimeMs > this.refreshAfterMs) await utimes(p, now / 1000, now / 1000).catch(() => undefined);
      return true;
    } catch (e: unknown) {
      if (errno(e) === 'ENOENT') return false;
      throw e;
    }
  }

  async has(ids: string[]): Promise<boolean[]> {
    return Promise.all(ids.map((id) => this.present(this.path(id))));
  }

  async put(id: string, data: Uint8Array): Promise<void> {
    const dest = this.path(id);
    if (await this.present(dest)) return;
    const tmp = join(this.tmp, `${id}.${randomBytes(6).toString('hex')}`);
    try {
      const fh = await open(tmp, 'w', 0o644);
      try {
        await fh.writeFile(data);
        if (this.fsync) await fh.sync();
      } finally {
        await fh.close();
      }
      try {
        await rename(tmp, dest);
      } catch (e: unknown) {
        if (errno(e) !== 'ENOENT') throw e;
        await mkdir(join(this.objects, id.slice(0, 2)), { recursive: true });
        await rename(tmp, dest);
      }
    } catch (e: unknown) {
      await unlink(tmp).catch(() => undefined);
      if (errno(e) === 'ENOSPC' || errno(e) === 'EDQUOT')
        throw new InsufficientStorage(`the content store at ${this.root} is full: object ${id} was not written`, {
          hint: 'free space on that filesystem (mctl workspaces gc) and try again',
        });
      throw e;
    }
  }

  async get(id: string): Promise<Uint8Array | null> {
    try {
      return await readFile(this.path(id));
    } catch (e: unknown) {
      if (errno(e) === 'ENOENT') return null;
      throw e;
    }
  }

  async delete(ids: string[]): Promise<void> {
    await Promise.all(
      ids.map((id) =>
        unlink(this.path(id)).catch((e: unknown) => {
          if (errno(e) !== 'ENOENT') throw e;
        }),
      ),
    );
  }

  async stat(ids: string[]): Promise<(number | null)[]> {
    return Promise.all(
      ids.map((id) =>
        stat(this.path(id)).then(
          (st) => st.mtimeMs,
          (e: unknown) => {
            if (errno(e) === 'ENOENT') return null;
            throw e;
          },
        ),
      ),
    );
  }

  async *list(): AsyncIterable<{ id: string; mtimeMs: number }> {
    const fans = (await readdir(this.objects)).filter((d) => /^[0-9a-f]{2}$/.test(d)).sort();
    for (const fan of fans) {
      let names: string[];
      try {
        names = await readdir(join(this.objects, fan));
      } catch (e: unknown) {
        if (errno(e) === 'ENOENT') continue;
        throw e;
      }
      for (const name of names) {
        const id = fan + name;
        if (!isId(id)) continue;
        try {
          const st = await stat(join(this.objects, fan, name));
          yield { id, mtimeMs: st.mtimeMs };
        } catch (e: unknown) {
          if (errno(e) !== 'ENOENT') throw e;
        }
      }
    }
  }
}
