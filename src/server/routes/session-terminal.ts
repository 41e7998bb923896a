/**
 * @module `GET /v1/sessions/:id/terminal` (WebSocket, `mctl sessions exec -it`): a terminal on the
 * session's runner (a `pty` op, ../../agent/session-pty.ts), with the same authorization as the
 * session's other routes. The conversation:
 *
 * - client → server, first: a text frame `{"type":"start","command":[...],"cols":N,"rows":N}`;
 *   then binary frames (keystrokes, as typed) and text frames `{"type":"resize","cols":N,"rows":N}`.
 * - server → client: binary frames (what the terminal prints), then one text frame
 *   `{"type":"exit","exitCode":N|null,"error":null|"..."}` and a normal close. A refusal (no such
 *   session, no runner, a bad start frame) is one text frame `{"type":"error","problem":{...}}`
 *   carrying the problem+json object (status, detail, hint), then the close.
 *
 * Backpressure both ways: the runner's output credit comes back only once this socket took the
 * frame (so a client that does not read stops the command's terminal, ../session-ops.ts); past a
 * bound of unread keystrokes the socket is paused. The socket closing cancels the op (the
 * command's process group is killed on the runner).
 */
import { Readable } from 'node:stream';
import type { WebSocket } from 'ws';
import { z } from 'zod';
import { InvalidRequest, MarionetteError, toError } from '../../core/errors.js';
import type { OrgScope } from '../../store/index.js';
import type { Api } from '../api.js';
import { problemFor } from '../problem.js';
import type { OpControl, SessionOps } from '../session-ops.js';

const Size = { cols: z.number().int().min(1).max(1000), rows: z.number().int().min(1).max(1000) };
const Start = z.strictObject({
  type: z.literal('start'),
  command: z.array(z.string().max(65536)).min(1).max(4096),
  ...Size,
});
const Resize = z.strictObject({ type: z.literal('resize'), ...Size });

/** How long a client may take to send its start frame. */
const START_MS = 30_000;

export function sessionTerminalRoutes(api: Api, ops: SessionOps): void {
  api.websocket(
    '/v1/sessions/:id/terminal',
    {
      summary: "An interactive terminal in the session's workspace (WebSocket)",
      tag: 'sessions',
      description: 'Send a start frame, then keystrokes; see docs/api.md (Interactive terminal).',
    },
    ({ socket, params, org }) => {
      void terminal(ops, org, params.id!, socket).catch((e: unknown) => refuse(socket, e));
    },
  );
}

function say(socket: WebSocket, msg: Record<string, unknown>): void {
  if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(msg));
}

function refuse(socket: WebSocket, e: unknown): void {
  const err = e instanceof MarionetteError ? e : new MarionetteError('internal', toError(e).message);
  say(socket, { type: 'error', problem: problemFor(err) });
  socket.close(1000);
}

/** The start frame, or a refusal (a bad frame, none in time, the client gone). */
function startFrame(socket: WebSocket): Promise<z.infer<typeof Start>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new InvalidRequest(`no start frame within ${START_MS / 1000}s`)), START_MS);
    const fail = (e: Error) => {
      clearTimeout(timer);
      socket.off('message', first);
      socket.off('close', gone);
      reject(e);
    };
    const gone = () => fail(new InvalidRequest('the client went away before it started the terminal'));
    const first = (data: Buffer, isBinary: boolean) => {
      clearTimeout(timer);
      socket.off('close', gone);
      let parsed: unknown = null;
      try {
        parsed = isBinary ? null : JSON.parse(data.toString('utf8'));
      } catch {
        /* not JSON: refused below */
      }
      const r = Start.safeParse(parsed);
      if (r.success) resolve(r.data);
      else
        reject(
          new InvalidRequest(
            `the first frame must be {"type":"start","command":[...],"cols":N,"rows":N}: ${r.error.issues[0]?.path.join('.') || 'frame'}: ${r.error.issues[0]?.message ?? 'invalid'}`,
          ),
        );
    };
    socket.once('message', first);
    socket.once('close', gone);
  });
}

async function terminal(ops: SessionOps, org: OrgScope, sessionId: string, socket: WebSocket): Promise<void> {
  let start: z.infer<typeof Start>;
  try {
    start = await startFrame(socket);
  } catch (e: unknown) {
    refuse(socket, e);
    return;
  }
  // Keystrokes: buffered up to the stream's bound, then the socket is paused until the pump reads on.
  const input = new Readable({ read: () => socket.resume() });
  let control: OpControl | null = null;
  const ac = new AbortController();
  socket.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) {
      if (input.destroyed || input.readableEnded) return;
      if (!input.push(Buffer.from(data))) socket.pause();
      return;
    }
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(data.toString('utf8'));
    } catch {
      /* ignored below */
    }
    const r = Resize.safeParse(parsed);
    if (r.success) control?.resize(r.data.cols, r.data.rows);
    else
      say(socket, { type: 'warning', detail: 'ignored a text frame that is not {"type":"resize","cols":N,"rows":N}' });
  });
  socket.on('close', () => {
    ac.abort();
    if (!input.destroyed) input.push(null);
  });
  try {
    const r = await ops.run(
      org,
      sessionId,
      { kind: 'pty', argv: start.command, cols: start.cols, rows: start.rows },
      {
        input,
        signal: ac.signal,
        onStart: (c) => {
          control = c;
        },
        onOutput: (_stream, data) =>
          socket.readyState !== socket.OPEN
            ? undefined
            : new Promise<void>((resolve) => socket.send(Buffer.from(data, 'utf8'), { binary: true }, () => resolve())),
      },
    );
    say(socket, { type: 'exit', exitCode: r.exitCode, error: r.error });
    socket.close(1000);
  } catch (e: unknown) {
    refuse(socket, e);
  } finally {
    input.destroy();
  }
}
