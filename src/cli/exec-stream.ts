/**
 * @module `mctl sessions exec` in a terminal or a pipe: the command's stdout and stderr written to
 * mctl's own as the runner sends them (the API's streamed exec, `text/event-stream`), and the
 * command's exit code returned. A stream cut before its `end` event is an error (exit 1).
 */
import { once } from 'node:events';
import type { MarionetteClient } from '../client/index.js';

type ExecBody = Parameters<MarionetteClient['execSessionStream']>[1];

async function write(out: NodeJS.WriteStream, text: string): Promise<void> {
  if (!out.write(text)) await once(out, 'drain');
}

/** Runs the command, streaming its output; resolves to the exit code mctl should exit with. */
export async function streamExec(api: MarionetteClient, id: string, body: ExecBody): Promise<number> {
  for await (const ev of api.execSessionStream(id, body)) {
    if (ev.event === 'stdout' || ev.event === 'stderr') {
      await write(ev.event === 'stdout' ? process.stdout : process.stderr, JSON.parse(ev.data) as string);
      continue;
    }
    if (ev.event !== 'end') continue;
    const end = JSON.parse(ev.data) as { exitCode: number | null; error: string | null };
    if (end.error) process.stderr.write(`mctl: ${end.error}\n`);
    return end.exitCode ?? 1;
  }
  process.stderr.write("mctl: the server closed the stream before the command's exit code came\n");
  return 1;
}
