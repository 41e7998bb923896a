/**
 * @module Batched, bounded upload of chunks to a sink. Chunks are queued with their plain bytes;
 * once a batch holds `batchSize` ids or `batchBytes` plain bytes, one `has` call asks which the
 * store lacks, and only those are encoded (on libuv's thread pool) and put, a few at a time.
 * `add` waits while a batch is being sent, which bounds memory (about two batches) whatever the
 * size of the tree. Ids already confirmed in this run are never asked again. The first failure is
 * kept and thrown by every later call, so a snapshot never finishes on top of a failed put.
 */
import { type Codec, DEFAULT_CODEC, encode } from './codec.js';
import type { ChunkSink } from './types.js';

export interface UploaderOptions {
  batchSize?: number;
  batchBytes?: number;
  /** Puts in flight at once (default 4). */
  concurrency?: number;
  codec?: Codec;
}

export class Uploader {
  /** Ids known to be in the store (confirmed or put by this run). */
  readonly known = new Set<string>();
  bytesNew = 0;
  private queue = new Map<string, Uint8Array>();
  private queueBytes = 0;
  private sending: Promise<void> = Promise.resolve();
  private failure: unknown;
  private readonly batchSize: number;
  private readonly batchBytes: number;
  private readonly concurrency: number;
  private readonly codec: Codec;

  constructor(
    private readonly sink: ChunkSink,
    opts: UploaderOptions = {},
  ) {
    this.batchSize = opts.batchSize ?? 256;
    this.batchBytes = opts.batchBytes ?? 4 * 1024 * 1024;
    this.concurrency = opts.concurrency ?? 4;
    this.codec = opts.codec ?? DEFAULT_CODEC;
  }

  private check(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /** Refuses every later call (the snapshot ended): entries still in flight send nothing more. */
  stop(): void {
    this.failure ??= new Error('snapshot stopped');
  }

  /** Queues a chunk; resolves once it is queued (waiting while an earlier batch is in flight). */
  async add(id: string, plain: Uint8Array): Promise<void> {
    this.check();
    if (this.known.has(id) || this.queue.has(id)) return;
    this.queue.set(id, plain);
    this.queueBytes += plain.length;
    if (this.queue.size >= this.batchSize || this.queueBytes >= this.batchBytes) await this.flush();
  }

  /**
   * Sends the queued batch after the ones in flight, and waits until it is stored: a caller that
   * fills a batch waits for it, so at most one batch per concurrent caller is held in memory.
   */
  async flush(): Promise<void> {
    const batch = this.queue;
    this.queue = new Map();
    this.queueBytes = 0;
    if (batch.size > 0)
      this.sending = this.sending
        .then(() => (this.failure === undefined ? this.send(batch) : undefined))
        .catch((e: unknown) => {
          this.failure ??= e;
        });
    await this.sending;
    this.check();
  }

  /** Sends everything queued and waits until it is stored. */
  async drain(): Promise<void> {
    await this.flush();
  }

  /**
   * Which of `ids` the store holds (one `has` call for those not already known); present ones
   * become known. Used for chunks the workspace index vouches for without reading the file.
   */
  async confirm(ids: string[]): Promise<boolean[]> {
    this.check();
    const ask = [...new Set(ids.filter((id) => !this.known.has(id) && !this.queue.has(id)))];
    const found = new Map<string, boolean>();
    for (let i = 0; i < ask.length; i += this.batchSize) {
      const part = ask.slice(i, i + this.batchSize);
      const res = await this.sink.has(part);
      part.forEach((id, k) => {
        found.set(id, res[k] === true);
        if (res[k] === true) this.known.add(id);
      });
    }
    return ids.map((id) => this.known.has(id) || this.queue.has(id) || found.get(id) === true);
  }

  private async send(batch: Map<string, Uint8Array>): Promise<void> {
    const ids = [...batch.keys()];
    const present = await this.sink.has(ids);
    const missing = ids.filter((id, i) => {
      if (present[i] === true) this.known.add(id);
      return present[i] !== true;
    });
    const putMany = this.sink.putMany?.bind(this.sink);
    if (putMany) {
      // One call for the batch's missing chunks (encoded on the thread pool, a few at a time).
      const objects: { id: string; data: Uint8Array }[] = new Array(missing.length);
      let at = 0;
      const encoder = async () => {
        while (at < missing.length) {
          const k = at++;
          const id = missing[k] as string;
          objects[k] = { id, data: await encode(batch.get(id) as Uint8Array, this.codec) };
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.concurrency, missing.length) }, encoder));
      if (objects.length) await putMany(objects);
      for (const o of objects) {
        this.bytesNew += o.data.length;
        this.known.add(o.id);
      }
      return;
    }
    let next = 0;
    const worker = async () => {
      while (next < missing.length) {
        const id = missing[next++] as string;
        const stored = await encode(batch.get(id) as Uint8Array, this.codec);
        await this.sink.put(id, stored);
        this.bytesNew += stored.length;
        this.known.add(id);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, missing.length) }, worker));
  }
}
