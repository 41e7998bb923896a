/**
 * @module The tail that `mctl sessions create` and `mctl dispatch` share: create the session,
 * then (with --wait or --follow) report on its first task. Without either, the session is
 * printed; with them, its id comes at once (on stderr when stdout carries the task's output),
 * and in JSON or YAML the session is printed as it is once the wait has ended.
 */
import type { MarionetteClient } from '../client/index.js';
import type { CmdContext } from './context.js';
import { print } from './output.js';
import { waitAndReport } from './wait.js';

export async function createSessionAndReport(
  c: CmdContext,
  body: Parameters<MarionetteClient['createSession']>[0],
  o: { wait?: unknown; follow?: unknown },
  timeoutMs: number | null,
  setExit: (code: number) => void,
): Promise<void> {
  const { api, out, tty } = c;
  const s = await api.createSession(body);
  const task = s.tasks[0];
  if (!task || !(o.wait || o.follow)) return print(out, s, () => s.id);
  if (out === 'table') {
    if (o.follow) process.stderr.write(`session ${s.id} created\n`);
    else process.stdout.write(`${s.id}\n`);
  }
  const r = await waitAndReport(
    api,
    task,
    { wait: Boolean(o.wait), follow: Boolean(o.follow), timeoutMs, finalOnStdout: out === 'table' && !o.follow },
    tty,
  );
  if (out !== 'table') {
    const now = await api.getSession(s.id);
    print(out, now, () => now.id);
  }
  setExit(r.code);
}
