/**
 * @module `mctl sessions exec -it ID -- CMD...`: an interactive terminal on the session's runner,
 * over the API's WebSocket (`GET /v1/sessions/:id/terminal`, docs/api.md). mctl's own terminal
 * goes into raw mode (every key, Ctrl-C included, goes to the remote command), what the remote
 * terminal prints is written to stdout as it comes, a resize of mctl's terminal (SIGWINCH) is sent
 * on, and mctl exits with the command's exit code. The terminal is restored however it ends: the
 * command exits, the server or runner goes away (a message says so, exit 1), or mctl is killed
 * (SIGTERM, SIGHUP: the remote command is stopped with it).
 */
import { createRequire } from 'node:module';
import type { WebSocket as WsSocket } from 'ws';
import type { CliConfig } from '../config/cli.js';
import { CliError } from './client.js';

type WsCtor = new (url: string, opts: { headers: Record<string, string>; ca?: Buffer; maxPayload: number }) => WsSocket;

/** Keystrokes queued on the socket past which mctl stops reading its stdin until they are sent. */
const INPUT_HIGH = 1 << 20;

interface Tty {
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
}

function size(out: NodeJS.WriteStream): { cols: number; rows: number } {
  const [cols, rows] = out.isTTY ? out.getWindowSize() : [80, 24];
  return { cols: Math.max(1, Math.min(1000, cols || 80)), rows: Math.max(1, Math.min(1000, rows || 24)) };
}

/** Checks mctl can run a terminal here (before anything is sent): stdin must be a TTY. */
export function checkTerminal(stdin: NodeJS.ReadStream): void {
  if (!stdin.isTTY)
    throw new CliError(
      "-it needs a terminal, and mctl's standard input is not one",
      'drop -it to run the command with its output streamed (pipes work then), or run mctl from a terminal',
    );
}

/** Runs `command` on a terminal in session `id`; resolves to the exit code mctl should exit with. */
export async function runTerminal(
  c: CliConfig,
  ca: Buffer | null,
  id: string,
  command: string[],
  tty: Tty = { stdin: process.stdin, stdout: process.stdout },
): Promise<number> {
  const { stdin, stdout } = tty;
  checkTerminal(stdin);
  const WebSocket = createRequire(import.meta.url)('ws') as WsCtor;
  const url = `${c.server.replace(/\/+$/, '').replace(/^http/, 'ws')}/v1/sessions/${encodeURIComponent(id)}/terminal`;
  const ws = new WebSocket(url, {
    headers: c.token ? { authorization: `Bearer ${c.token}` } : {},
    ...(ca ? { ca } : {}),
    maxPayload: 4 << 20,
  });
  let raw = false;
  const restore = () => {
    if (raw) stdin.setRawMode(false);
    raw = false;
    stdin.pause();
  };
  const onSignal = (sig: NodeJS.Signals) => {
    restore();
    ws.close(1000);
    process.stderr.write(`\r\nmctl: ${sig}: the remote command was stopped\n`);
    process.exit(sig === 'SIGTERM' ? 143 : 129);
  };
  const onResize = () => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: 'resize', ...size(stdout) }));
  };
  const onKeys = (b: Buffer) => {
    ws.send(b, { binary: true }, () => {
      if (stdin.isPaused() && ws.bufferedAmount < INPUT_HIGH / 2) stdin.resume();
    });
    if (ws.bufferedAmount > INPUT_HIGH) stdin.pause();
  };
  try {
    return await new Promise<number>((resolve, reject) => {
      let ended = false;
      ws.on('unexpected-response', (_req, res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (t: string) => {
          body += t;
        });
        res.on('end', () => {
          ended = true;
          let p: { detail?: string; hint?: string } = {};
          try {
            p = JSON.parse(body) as typeof p;
          } catch {
            /* not a problem document */
          }
          reject(
            new CliError(
              p.detail ?? `the server refused the terminal (HTTP ${res.statusCode})`,
              p.hint,
              res.statusCode,
            ),
          );
        });
      });
      ws.on('open', () => {
        ws.send(JSON.stringify({ type: 'start', command, ...size(stdout) }));
        stdin.setRawMode(true);
        raw = true;
        stdin.on('data', onKeys);
        stdin.resume();
        process.on('SIGWINCH', onResize);
      });
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (isBinary) {
          if (!stdout.write(data)) {
            ws.pause();
            stdout.once('drain', () => ws.resume());
          }
          return;
        }
        const m = JSON.parse(data.toString('utf8')) as {
          type: string;
          exitCode?: number | null;
          error?: string | null;
          detail?: string;
          problem?: { detail: string; hint?: string; status?: number };
        };
        if (m.type === 'exit') {
          ended = true;
          restore();
          if (m.error) process.stderr.write(`mctl: ${m.error}\n`);
          resolve(m.exitCode ?? 1);
        } else if (m.type === 'error' && m.problem) {
          ended = true;
          reject(new CliError(m.problem.detail, m.problem.hint, m.problem.status));
        } else if (m.type === 'warning' && m.detail) process.stderr.write(`mctl: ${m.detail}\r\n`);
      });
      ws.on('error', (e: Error) => {
        if (ended) return;
        ended = true;
        reject(
          new CliError(
            `cannot open the terminal at ${c.server}: ${e.message}`,
            'is `marionette serve` running? set --server or MARIONETTE_SERVER',
          ),
        );
      });
      ws.on('close', () => {
        if (ended) return;
        ended = true;
        restore();
        reject(new CliError("the connection to the server closed before the command's exit code came"));
      });
      process.on('SIGTERM', onSignal);
      process.on('SIGHUP', onSignal);
    });
  } finally {
    restore();
    stdin.off('data', onKeys);
    process.off('SIGWINCH', onResize);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
    if (ws.readyState === ws.OPEN) ws.close(1000);
  }
}
