/**
 * @module The S3-compatible backend (`@aws-sdk/client-s3`): one object per content address at
 * `<prefix><id>` in a bucket. Credentials come from the AWS SDK's standard chain (environment,
 * shared config, instance/container roles) unless given. `has` is a HEAD per id (a few in
 * flight); an object older than `refreshAfterMs` that `has` or `put` finds present is copied onto
 * itself with its metadata replaced (`x-amz-meta-refreshed`: the time in ms), which renews it
 * for the GC's grace period. Its time is the later of Last-Modified and that metadata: S3 renews
 * Last-Modified on such a copy, some S3-compatible stores (s3rver) only the metadata, and `stat`
 * (which the GC calls before deleting) reads both. A PUT is atomic on S3, so no partial object is
 * ever visible.
 *
 * The SDK is loaded on first use, by a specifier the bundler does not follow: the runner agent is
 * one bundled file that imports the store library for the filesystem-free path (snapshot to a
 * remote sink) and must not carry the S3 SDK; the server loads it from node_modules.
 */
import type * as S3 from '@aws-sdk/client-s3';
import { isId } from './codec.js';
import type { ChunkBackend } from './types.js';

/** Kept in a variable so bundlers leave this import to run time (see the module comment). */
const SDK_MODULE = '@aws-sdk/client-s3';
type Sdk = typeof S3;

let sdkPromise: Promise<Sdk> | undefined;
function loadSdk(): Promise<Sdk> {
  sdkPromise ??= import(SDK_MODULE) as Promise<Sdk>;
  return sdkPromise;
}

export interface S3BackendOptions {
  bucket: string;
  /** Key prefix (a trailing '/' is added when missing). Default ''. */
  prefix?: string;
  /** Custom endpoint for S3-compatible stores (MinIO, R2, s3rver); path-style addressing then. */
  endpoint?: string;
  region?: string;
  /** Explicit credentials; default: the SDK's standard chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Requests in flight for multi-id calls. Default 16. */
  concurrency?: number;
  /** A present object older than this is refreshed by `has`/`put`. Default 1 hour. */
  refreshAfterMs?: number;
}

function status(e: unknown): number | undefined {
  return (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

function notFound(e: unknown): boolean {
  const name = (e as { name?: string }).name;
  return name === 'NotFound' || name === 'NoSuchKey' || status(e) === 404;
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export class S3Backend implements ChunkBackend {
  private clientPromise: Promise<{ sdk: Sdk; client: S3.S3Client }> | undefined;
  private readonly config: S3.S3ClientConfig;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly concurrency: number;
  private readonly refreshAfterMs: number;

  constructor(opts: S3BackendOptions) {
    const cfg: S3.S3ClientConfig = { region: opts.region ?? 'us-east-1' };
    if (opts.endpoint) {
      cfg.endpoint = opts.endpoint;
      cfg.forcePathStyle = true;
    }
    if (opts.credentials) cfg.credentials = opts.credentials;
    this.config = cfg;
    this.bucket = opts.bucket;
    this.prefix = opts.prefix ? (opts.prefix.endsWith('/') ? opts.prefix : `${opts.prefix}/`) : '';
    this.concurrency = opts.concurrency ?? 16;
    this.refreshAfterMs = opts.refreshAfterMs ?? 3_600_000;
  }

  private conn(): Promise<{ sdk: Sdk; client: S3.S3Client }> {
    this.clientPromise ??= loadSdk().then((sdk) => ({ sdk, client: new sdk.S3Client(this.config) }));
    return this.clientPromise;
  }

  private key(id: string): string {
    if (!isId(id)) throw new RangeError(`not a content address: ${JSON.stringify(id)}`);
    return this.prefix + id;
  }

  private async head(id: string): Promise<number | null> {
    try {
      const key = this.key(id);
      const { sdk, client } = await this.conn();
      const r = await client.send(new sdk.HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      const refreshed = Number(r.Metadata?.refreshed ?? 0);
      return Math.max(r.LastModified?.getTime() ?? 0, Number.isFinite(refreshed) ? refreshed : 0);
    } catch (e: unknown) {
      if (notFound(e)) return null;
      throw e;
    }
  }

  private async refresh(id: string): Promise<void> {
    const key = this.key(id);
    const { sdk, client } = await this.conn();
    await client.send(
      new sdk.CopyObjectCommand({
        Bucket: this.bucket,
        Key: key,
        CopySource: `${this.bucket}/${encodeURIComponent(key).replace(/%2F/g, '/')}`,
        MetadataDirective: 'REPLACE',
        Metadata: { refreshed: String(Date.now()) },
      }),
    );
  }

  private async present(id: string): Promise<boolean> {
    const mtime = await this.head(id);
    if (mtime === null) return false;
    if (Date.now() - mtime > this.refreshAfterMs) await this.refresh(id);
    return true;
  }

  has(ids: string[]): Promise<boolean[]> {
    return mapLimit(ids, this.concurrency, (id) => this.present(id));
  }

  async put(id: string, data: Uint8Array): Promise<void> {
    if (await this.present(id)) return;
    const { sdk, client } = await this.conn();
    await client.send(
      new sdk.PutObjectCommand({ Bucket: this.bucket, Key: this.key(id), Body: data, ContentLength: data.length }),
    );
  }

  async get(id: string): Promise<Uint8Array | null> {
    try {
      const key = this.key(id);
      const { sdk, client } = await this.conn();
      const r = await client.send(new sdk.GetObjectCommand({ Bucket: this.bucket, Key: key }));
      if (!r.Body) return new Uint8Array(0);
      return await r.Body.transformToByteArray();
    } catch (e: unknown) {
      if (notFound(e)) return null;
      throw e;
    }
  }

  async delete(ids: string[]): Promise<void> {
    const keys = ids.map((id) => this.key(id));
    if (!keys.length) return;
    const { sdk, client } = await this.conn();
    for (let i = 0; i < keys.length; i += 1000) {
      const part = keys.slice(i, i + 1000);
      const r = await client.send(
        new sdk.DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: part.map((Key) => ({ Key })), Quiet: true },
        }),
      );
      const errors = (r.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (errors.length)
        throw new Error(
          `S3 delete failed for ${errors.length} object(s): ${errors[0]?.Key} ${errors[0]?.Code} ${errors[0]?.Message}`,
        );
    }
  }

  stat(ids: string[]): Promise<(number | null)[]> {
    return mapLimit(ids, this.concurrency, (id) => this.head(id));
  }

  async *list(): AsyncIterable<{ id: string; mtimeMs: number; size: number }> {
    const { sdk, client } = await this.conn();
    let token: string | undefined;
    do {
      const r = await client.send(
        new sdk.ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix, ContinuationToken: token }),
      );
      for (const o of r.Contents ?? []) {
        const id = (o.Key ?? '').slice(this.prefix.length);
        if (isId(id)) yield { id, mtimeMs: o.LastModified?.getTime() ?? 0, size: o.Size ?? 0 };
      }
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
  }

  async close(): Promise<void> {
    if (this.clientPromise) (await this.clientPromise).client.destroy();
  }
}
