/**
 * @module mctl's waiting and following: `--wait` / `--follow` on `sessions create` and `tasks
 * create`, and `logs -f`. Waiting reads the server's watch stream (`GET /v1/tasks/:id/watch`, SSE),
 * says on stderr why the task waits each time the reason changes (the session's recorded placement
 * reason, as `mctl sessions explain` shows it), and gives up after `--timeout` with a message that
 * says the session was left as it is and how to look at it later. Log lines go to stdout (stderr
 * and system lines to stderr); once the reader of a pipe has gone (`| head -1`) mctl ends quietly.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { renderLogLine } from '../agent/outcome/index.js';
import { MarionetteApiError, type MarionetteClient } from '../client/index.js';
import { formatDuration, parseDuration } from '../core/duration.js';
import { isTerminalTask } from '../core/states.js';
import type { TaskState } from '../core/types.js';
import { lineBytes } from '../protocol/linebytes.js';
import { CliError } from './client.js';
import { StatusLine } from './output.js';

/** A task as the API returns it (the fields mctl reads). */
export interface TaskObj extends Record<string, unknown> {
  id: string;
  state: string;
  sessionId: string;
  exitCode: number | null;
  error: string | null;
}

/** What the watch stream says (see src/server/watch.ts). */
export interface WatchStatus {
  task: { id: string; state: string; exitCode: number | null; error: string | null; sessionId: string };
  session: {
    id: string;
    state: string;
    stateReason: string | null;
    poolId: string | null;
    runnerId: string | null;
  } | null;
}

/** Exit status when `--timeout` ends a wait (as `timeout(1)`). */
export const TIMEOUT_EXIT = 124;

/** How long a wait keeps retrying an unreachable server (a restart takes seconds). */
const UNREACHABLE_GIVE_UP_MS = 120_000;

let pipeGuarded = false;

/**
 * Once the reader of stdout or stderr has gone (`mctl ... --follow | head -1`), the next write
 * fails with EPIPE: end quietly (status 0) instead of with a stack trace.
 */
export function endQuietlyOnClosedPipe(): void {
  if (pipeGuarded) return;
  pipeGuarded = true;
  for (const stream of [process.stdout, process.stderr])
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(0);
      throw e;
    });
}

/**
 * Prints a log line as the bytes the task wrote: stdout to stdout, stderr and system lines to
 * stderr. An agent's JSON event on stdout is rendered for people (its text, tool calls, summary)
 * unless `raw` (`-o json`).
 */
function writeLine(l: { stream: string; line: string }, raw = false): void {
  const text = l.stream === 'stdout' && !raw ? renderLogLine(l.line).join('\n') : l.line;
  if (text === '' && l.line !== '') return; // an event with nothing to show people
  (l.stream === 'stdout' ? process.stdout : process.stderr).write(lineBytes(`${text}\n`));
}

/** Whose logs: a task's, or a whole session's. */
export type LogTarget = { taskId: string } | { sessionId: string };

/** Prints every stored line of a task or session, page by page. */
export async function pageLogs(api: MarionetteClient, target: LogTarget, raw = false): Promise<void> {
  endQuietlyOnClosedPipe();
  let after = 0;
  for (;;) {
    const q = { after, limit: 5000 };
    const page =
      'taskId' in target ? await api.getTaskLogs(target.taskId, q) : await api.getSessionLogs(target.sessionId, q);
    for (const l of page.items) writeLine(l, raw);
    if (page.next === null) return;
    after = page.next;
  }
}

/**
 * Streams log lines until the server says the target has finished; reconnects after the last line
 * seen when the server goes away. Returns the final state (null when it gave up or `signal` fired).
 */
export async function followLogs(
  api: MarionetteClient,
  target: LogTarget,
  opts: { signal?: AbortSignal; status?: StatusLine; raw?: boolean } = {},
): Promise<string | null> {
  endQuietlyOnClosedPipe();
  const { signal, status, raw = false } = opts;
  let after = 0;
  for (let attempt = 0, failures = 0; attempt < 50; attempt++) {
    failures++;
    try {
      const follow = { after, ...(signal ? { signal } : {}) };
      const events =
        'taskId' in target
          ? api.followTaskLogs(target.taskId, follow)
          : api.followSessionLogs(target.sessionId, follow);
      for await (const ev of events) {
        failures = 0;
        if (ev.event === 'line') {
          const l = JSON.parse(ev.data) as { id: number; stream: string; line: string };
          after = l.id;
          status?.clear();
          writeLine(l, raw);
        } else if (ev.event === 'end') return (JSON.parse(ev.data) as { state: string }).state;
      }
    } catch (e: unknown) {
      if (signal?.aborted) return null;
      if (e instanceof MarionetteApiError) throw e;
    }
    // The server went away mid-stream (restart): reconnect after the last line seen, at once if
    // the stream had been delivering, else backing off.
    if (failures === 0) continue;
    try {
      await sleep(Math.min(2000, 200 * failures), undefined, signal ? { signal } : {});
    } catch {
      return null;
    }
  }
  return null;
}

/** `--timeout`: a duration (`30s`, `5m`, `1h`, or seconds); null when not given. */
export function parseTimeout(v: string | undefined): number | null {
  if (v === undefined) return null;
  const ms = parseDuration(v);
  if (ms === null || ms <= 0)
    throw new CliError(`--timeout ${JSON.stringify(v)}: expected a duration such as 30s, 5m or 1h`);
  return ms;
}

/** Why a task is not running yet, in one line; null while nothing is holding it up. */
export function waitingReason(s: WatchStatus): string | null {
  if (s.task.state !== 'queued' || !s.session?.stateReason) return null;
  return `session ${s.session.id} ${s.session.state}: ${s.session.stateReason}`;
}

class WaitTimedOut extends Error {}

/** The task's status read with two plain requests (the fallback when the watch stream broke). */
async function readStatus(api: MarionetteClient, id: string): Promise<WatchStatus> {
  const t = await api.getTask(id);
  const s = await api.getSession(t.sessionId).catch(() => null);
  return {
    task: { id: t.id, state: t.state, exitCode: t.exitCode, error: t.error, sessionId: t.sessionId },
    session: s
      ? { id: s.id, state: s.state, stateReason: s.stateReason, poolId: s.poolId, runnerId: s.runnerId }
      : null,
  };
}

/**
 * Reads the watch stream until the task ends, calling `onStatus` with each status: it returns the
 * moment the server says the task ended, and never polls. When the stream breaks (the server
 * restarted, a proxy cut it) the task is read once, so an end that fell in the gap is not missed,
 * and the stream is opened again (at once the first time, then backing off while the server cannot
 * be reached, for up to UNREACHABLE_GIVE_UP_MS). Throws WaitTimedOut once `signal` fires.
 */
async function watchTask(
  api: MarionetteClient,
  id: string,
  onStatus: (s: WatchStatus) => void,
  signal: AbortSignal,
): Promise<WatchStatus> {
  let unreachableSince: number | null = null;
  const unreachable = (e: unknown) => {
    unreachableSince ??= Date.now();
    if (Date.now() - unreachableSince > UNREACHABLE_GIVE_UP_MS)
      throw new CliError(
        `${e instanceof Error ? e.message : String(e)} for ${UNREACHABLE_GIVE_UP_MS / 1000}s; stopped waiting (the task may still run)`,
        `check later with \`mctl tasks get ${id}\``,
      );
  };
  for (let failures = 0; ; ) {
    // A stream that gave nothing before it broke counts as a failure (backs off), so a server or
    // proxy that keeps closing it at once is not hammered.
    failures++;
    try {
      for await (const ev of api.watchTask(id, { signal })) {
        unreachableSince = null;
        failures = 0;
        const s = JSON.parse(ev.data) as WatchStatus;
        onStatus(s);
        if (ev.event === 'end') return s;
      }
    } catch (e: unknown) {
      if (signal.aborted) throw new WaitTimedOut();
      // An HTTP error is an answer (404: no such task); anything else is the connection.
      if (e instanceof MarionetteApiError) throw e;
      unreachable(e);
    }
    // The stream ended without `end`, or could not be opened: did the task end meanwhile?
    try {
      const s = await readStatus(api, id);
      unreachableSince = null;
      if (isTerminalTask(s.task.state as TaskState)) {
        onStatus(s);
        return s;
      }
    } catch (e: unknown) {
      if (signal.aborted) throw new WaitTimedOut();
      if (e instanceof MarionetteApiError) throw e;
      unreachable(e);
    }
    if (failures === 0) continue;
    try {
      await sleep(Math.min(2000, 200 * failures), undefined, { signal });
    } catch {
      throw new WaitTimedOut();
    }
  }
}

/** How a wait ended: the process exit code and, when the task finished, its last status. */
export interface WaitResult {
  code: number;
  end: WatchStatus | null;
}

/** `task tsk_… succeeded; session ses_… idle` (with the exit code and error when it failed). */
export function finalStateLine(s: WatchStatus): string {
  const t = s.task;
  const how =
    t.state === 'succeeded'
      ? ''
      : `${t.exitCode !== null && t.exitCode !== 0 ? ` (exit ${t.exitCode})` : ''}${t.error ? `: ${t.error}` : ''}`;
  return `task ${t.id} ${t.state}${how}${s.session ? `; session ${s.session.id} ${s.session.state}` : ''}`;
}

/**
 * Waits for (and with `follow` streams) a task. Progress goes to stderr; with `finalOnStdout`
 * the final state is printed on stdout (instead of the tty's `task … succeeded` on stderr).
 */
export async function waitAndReport(
  api: MarionetteClient,
  task: TaskObj,
  opts: { wait?: boolean; follow?: boolean; timeoutMs: number | null; finalOnStdout?: boolean },
  tty: boolean,
): Promise<WaitResult> {
  if (!opts.wait && !opts.follow) return { code: 0, end: null };
  const status = new StatusLine(tty && !opts.follow);
  const ac = new AbortController();
  const timer = opts.timeoutMs === null ? null : setTimeout(() => ac.abort(), opts.timeoutMs);
  let seen: WatchStatus | null = null;
  let said: string | null = null;
  const onStatus = (s: WatchStatus) => {
    seen = s;
    const ses = s.session;
    status.set(`task ${s.task.id}: ${s.task.state}${s.task.state === 'queued' && ses ? `; session ${ses.state}` : ''}`);
    const why = waitingReason(s);
    if (why !== null && why !== said) {
      status.clear();
      process.stderr.write(`waiting: ${why}\n`);
    }
    said = why;
  };
  try {
    const [end] = await Promise.all([
      watchTask(api, task.id, onStatus, ac.signal),
      opts.follow ? followLogs(api, { taskId: task.id }, { signal: ac.signal, status }) : null,
    ]);
    status.stop();
    const done = end.task;
    if (opts.finalOnStdout) process.stdout.write(`${finalStateLine(end)}\n`);
    if (done.state !== 'succeeded') {
      process.stderr.write(`mctl: task ${done.id} ${done.state}${done.error ? `: ${done.error}` : ''}\n`);
      return { code: done.exitCode && done.exitCode > 0 ? done.exitCode : 1, end };
    }
    if (tty && !opts.finalOnStdout) process.stderr.write(`task ${done.id} succeeded\n`);
    return { code: 0, end };
  } catch (e: unknown) {
    if (!(e instanceof WaitTimedOut) || opts.timeoutMs === null) throw e;
    status.stop();
    const last = seen as WatchStatus | null;
    const sessionId = last?.session?.id ?? task.sessionId;
    const where = last
      ? `task ${task.id} is still ${last.task.state}${last.session ? `; session ${sessionId} is ${last.session.state}${last.session.stateReason ? ` (${last.session.stateReason})` : ''}` : ''}`
      : `task ${task.id} has not finished`;
    process.stderr.write(`mctl: stopped waiting after ${formatDuration(opts.timeoutMs)}: ${where}\n`);
    process.stderr.write(
      `hint: the session was left as it is; check later with \`mctl tasks get ${task.id}\` or \`mctl sessions explain ${sessionId}\`, or stop it with \`mctl sessions cancel ${sessionId}\`\n`,
    );
    return { code: TIMEOUT_EXIT, end: null };
  } finally {
    if (timer) clearTimeout(timer);
    ac.abort();
    status.stop();
  }
}
