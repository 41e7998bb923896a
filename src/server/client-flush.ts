/**
 * @module Backpressure towards an HTTP client: {@link written} writes a chunk to a response and,
 * when the socket's buffer is full, gives a promise that settles once it drained (or the client
 * went away). Session ops hand that promise back to ./session-ops.ts, which holds the runner's
 * credit for the chunk until then, so a slow reader slows the runner's source down instead of
 * growing the server's memory.
 */
import type { ServerResponse } from 'node:http';

/** Writes `chunk` to `res`; undefined when the socket took it, else a promise of the drain (or close). */
export function written(res: ServerResponse, chunk: string | Buffer): undefined | Promise<void> {
  if (res.write(chunk)) return undefined;
  return new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** An AbortSignal that fires when `res` closes before it was ended (the client went away). */
export function abortOnClose(res: ServerResponse): AbortSignal {
  const ac = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) ac.abort();
  });
  return ac.signal;
}
