/**
 * @module Exiting without losing output. `process.exit()` ends the process at once, and what is
 * still queued for a pipe is lost: Node writes to a pipe asynchronously once the pipe's buffer
 * (64 KiB on Linux) is full, so `mctl ... -o json | cat` was cut at 65,536 bytes. Every program
 * exits through `exitWhenFlushed`, which waits until stdout and stderr have handed everything to
 * the kernel (or failed: a closed pipe cannot be written to any more, so it does not wait on it).
 */

/** Resolves once everything written to `stream` so far is flushed, or the stream has failed or closed. */
export function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || !stream.writable || stream.writableLength === 0) return resolve();
    // Writes complete in order, so the callback of an empty write runs after every earlier one.
    stream.once('error', () => resolve());
    stream.once('close', () => resolve());
    stream.write('', () => resolve());
  });
}

/**
 * Waits for stdout and stderr to be flushed, then exits with `code`. A CLI waits as long as its
 * reader takes (as any program writing to a pipe does); a long-running program passes
 * `maxWaitMs`, so a reader that stopped reading cannot keep it from exiting.
 */
export async function exitWhenFlushed(code: number, maxWaitMs?: number): Promise<never> {
  const both = Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  if (maxWaitMs === undefined) await both;
  else {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([both, new Promise((r) => (timer = setTimeout(r, maxWaitMs)))]);
    clearTimeout(timer);
  }
  process.exit(code);
}
