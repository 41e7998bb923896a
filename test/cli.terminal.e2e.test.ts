/**
 * `mctl sessions exec -it` driven from a pseudo-terminal (mctl itself runs under node-pty, as a
 * person's terminal would start it): keys typed reach a shell on the runner's PTY and its output
 * comes back, a resize of mctl's terminal reaches the remote one (`stty size` says so), the exit
 * code comes back as mctl's. Bad input: an unknown session, a session that holds no runner, -it
 * without a terminal, -i alone; and a runner killed mid-session ends mctl with that said.
 */
import pty from '@lydell/node-pty';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, type ServerHandle, startServer, until } from './harness.js';

let srv: ServerHandle;
beforeAll(async () => {
  srv = await startServer();
});
afterAll(async () => {
  await srv?.destroy();
});

async function idleSession(): Promise<string> {
  const r = await srv.mctl(['-o', 'json', 'sessions', 'create', '--agent', 'shell', '--prompt', 'true', '--wait']);
  expect(r.code, r.stderr).toBe(0);
  const id = (JSON.parse(r.stdout) as { id: string }).id;
  await until(async () => {
    const s = await srv.api<{ state: string; runnerId: string | null }>('GET', `/v1/sessions/${id}`);
    return s.body.runnerId && s.body.state === 'idle';
  }, 'the session to be idle with its runner');
  return id;
}

/** mctl under a pseudo-terminal of `cols` x `rows`: what it printed so far, and its exit. */
function terminal(args: string[], cols = 80, rows = 24) {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  Object.assign(env, { MARIONETTE_SERVER: srv.apiUrl, MARIONETTE_TOKEN: srv.token, MARIONETTE_HOME: srv.home });
  const term = pty.spawn(process.execPath, [BIN.mctl, ...args], { name: 'xterm', cols, rows, cwd: srv.home, env });
  const t = {
    term,
    out: '',
    exit: new Promise<number>((resolve) => term.onExit((e) => resolve(e.exitCode))),
    /** Waits for `text` to appear after what was printed before this call's `since`. */
    async see(text: string | RegExp, since = 0, what = String(text)): Promise<string> {
      try {
        return await until(
          async () => {
            const s = t.out.slice(since);
            return (typeof text === 'string' ? s.includes(text) : text.test(s)) ? s : null;
          },
          `${what} on the terminal`,
          60_000,
        );
      } catch (e: unknown) {
        throw new Error(`${(e as Error).message}; it shows: ${JSON.stringify(t.out.slice(-600))}`);
      }
    },
  };
  term.onData((d) => {
    t.out += d;
  });
  return t;
}

describe('mctl sessions exec -it', () => {
  it('types into a remote shell, sees its output, follows a resize and exits with its code', async () => {
    const id = await idleSession();
    const t = terminal(['sessions', 'exec', '-it', id, '--', 'bash', '--norc', '--noprofile', '-i'], 80, 24);
    await t.see(/[#$] $/, 0, "the remote shell's prompt");
    // Quoting splits the marker, so only the command's output (not the echo of the keys) holds it whole.
    t.term.write('echo "mark-""$((6*7))"; tty\r');
    await t.see(/mark-42[\r\n]+\/dev\/pts\/\d+/, 0, 'the command output and a pts device');
    let at = t.out.length;
    t.term.write('stty size\r');
    await t.see('24 80', at, 'the starting size');
    t.term.resize(101, 33);
    // The resize travels mctl → server → runner; asked until the remote terminal has it.
    await until(
      async () => {
        at = t.out.length;
        t.term.write('stty size\r');
        await new Promise((r) => setTimeout(r, 300));
        return t.out.slice(at).includes('33 101');
      },
      'stty size to report 33 101',
      60_000,
    );
    t.term.write('exit 7\r');
    expect(await t.exit).toBe(7);
    // The terminal is restored: no raw-mode leftovers decide anything here, but mctl printed no error.
    expect(t.out).not.toContain('mctl:');
    await srv.mctl(['sessions', 'cancel', id]);
  }, 180_000);

  it('refuses an unknown session, a session with no runner, -it without a terminal and -i alone', async () => {
    const unknown = terminal(['sessions', 'exec', '-it', 'ses_zzzzzzzzzzzzzzzz', '--', 'bash']);
    expect(await unknown.exit).toBe(1);
    expect(unknown.out).toMatch(/no session has an id starting with "ses_zzzzzzzzzzzzzzzz"/);
    expect(unknown.out).not.toContain('    at ');

    const id = await idleSession();
    const cancel = await srv.mctl(['sessions', 'cancel', id]);
    expect(cancel.code, cancel.stderr).toBe(0);
    await until(async () => {
      const s = await srv.api<{ state: string }>('GET', `/v1/sessions/${id}`);
      return s.body.state === 'cancelled';
    }, 'the session to be cancelled');
    const gone = terminal(['sessions', 'exec', '-it', id, '--', 'bash']);
    expect(await gone.exit).toBe(1);
    expect(gone.out).toMatch(/is cancelled and holds no runner/);
    expect(gone.out).not.toContain('    at ');

    // Not a terminal: mctl says so before it connects.
    const piped = await srv.mctl(['sessions', 'exec', '-it', id, '--', 'bash']);
    expect(piped.code).toBe(1);
    expect(piped.stderr).toContain("-it needs a terminal, and mctl's standard input is not one");
    const half = await srv.mctl(['sessions', 'exec', '-i', id, '--', 'bash']);
    expect(half.code).toBe(1);
    expect(half.stderr).toContain('-i alone is not supported: use -it');

    // The route itself: a plain GET is told it needs the upgrade; no token is a 401.
    const plain = await srv.api('GET', `/v1/sessions/${id}/terminal`);
    expect(plain.status).toBe(400);
    expect(JSON.stringify(plain.body)).toContain('is a WebSocket');
    expect((await srv.api('GET', `/v1/sessions/${id}/terminal`, undefined, null)).status).toBe(401);
  }, 180_000);

  it('ends with a clear message when the runner is killed mid-session', async () => {
    const id = await idleSession();
    const t = terminal(['sessions', 'exec', '-it', id, '--', 'bash', '--norc', '--noprofile', '-i']);
    await t.see(/[#$] $/, 0, "the remote shell's prompt");
    t.term.write('echo "up-""$((1+1))"\r');
    await t.see('up-2');
    // The shell's parent is the runner's agent (node-pty forks from it): killed hard, mid-session.
    t.term.write('kill -9 $PPID\r');
    expect(await t.exit).toBe(1);
    expect(t.out).toMatch(/mctl: the runner of the session disconnected before the command ended/);
  }, 180_000);
});
