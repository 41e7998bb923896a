/**
 * A session op's client going away, and a slow one. Interrupting `mctl sessions exec` (SIGINT,
 * SIGTERM) stops the command on the runner: its process is gone, not left running until the
 * timeout. `sessions cp` out of a session to a reader that stops reading: the server and the
 * runner hold a bounded window, not the stream (measured: the server's resident memory, and how
 * far tar on the runner got reading the file), and once the reader reads on, every byte arrives.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { type IncomingMessage, request } from 'node:http';
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

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** A process's resident memory in bytes (/proc). */
function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

describe('interrupting mctl sessions exec', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    it(`${signal} stops the command on the runner`, async () => {
      const id = await idleSession();
      const mctl = spawn(
        process.execPath,
        [BIN.mctl, 'sessions', 'exec', id, '--', 'bash', '-c', 'echo "pid $$"; exec sleep 600'],
        {
          env: {
            ...process.env,
            MARIONETTE_SERVER: srv.apiUrl,
            MARIONETTE_TOKEN: srv.token,
            MARIONETTE_HOME: srv.home,
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let out = '';
      mctl.stdout.on('data', (c: Buffer) => {
        out += c.toString();
      });
      const pid = Number(await until(async () => /pid (\d+)/.exec(out)?.[1], 'the command to start', 60_000));
      expect(alive(pid)).toBe(true);
      const exited = new Promise((r) => mctl.on('close', r));
      mctl.kill(signal);
      await exited;
      // The local runner runs on this machine: the command's process (`sleep`, exec'd into bash's pid) ends.
      await until(async () => !alive(pid), `the command (pid ${pid}) to be stopped on the runner`, 60_000);
      // The runner is free again for the next op.
      const next = await srv.mctl(['sessions', 'exec', id, '--', 'echo', 'next']);
      expect(next.code, next.stderr).toBe(0);
      expect(next.stdout).toBe('next\n');
      await srv.mctl(['sessions', 'cancel', id]);
    }, 180_000);
});

describe('sessions cp to a slow reader', () => {
  it('holds a bounded window in the server and on the runner, then delivers every byte', async () => {
    const id = await idleSession();
    const size = 192 * 1024 * 1024;
    const mk = await srv.mctl(['sessions', 'exec', id, '--', 'bash', '-c', `head -c ${size} /dev/zero > big.bin`], {
      timeoutMs: 120_000,
    });
    expect(mk.code, mk.stderr).toBe(0);
    const serverPid = srv.proc.pid!;
    const before = rss(serverPid);
    let received = 0;
    let resolveRes: (r: IncomingMessage) => void;
    const got = new Promise<IncomingMessage>((r) => {
      resolveRes = r;
    });
    const req = request(`${srv.apiUrl}/v1/sessions/${id}/files?path=big.bin`, {
      headers: { authorization: `Bearer ${srv.token}` },
    });
    req.on('response', (res) => resolveRes(res));
    req.end();
    const res = await got;
    expect(res.statusCode).toBe(200);
    // Read a little, then stop reading (the socket's buffers fill, the server must hold back).
    res.once('data', (c: Buffer) => {
      received += c.length;
      res.pause();
    });
    // The tar on the runner packing big.bin: how far it read, from /proc (it runs on this machine).
    const tarPid = await until(async () => findTar(), 'the runner to start tar', 60_000);
    let lastRead = -1;
    let read = 0;
    // Stalled: tar's read position stops moving (it is blocked writing into a full window).
    await until(
      async () => {
        read = readChars(tarPid);
        const still = read === lastRead;
        lastRead = read;
        if (!still) await new Promise((r) => setTimeout(r, 1000));
        return still;
      },
      'tar to stall behind the paused reader',
      120_000,
    );
    const grown = rss(serverPid) - before;
    console.log(
      `cp to a paused reader: tar read ${(read / 2 ** 20).toFixed(1)} MiB of ${size / 2 ** 20} MiB; server RSS grew ${(grown / 2 ** 20).toFixed(1)} MiB`,
    );
    expect(read).toBeLessThan(64 * 1024 * 1024);
    expect(grown).toBeLessThan(96 * 1024 * 1024);
    // Reading on: the rest arrives, whole (a tar of one file: its header, the file, padding).
    res.on('data', (c: Buffer) => {
      received += c.length;
    });
    res.resume();
    await new Promise((r) => res.on('end', r));
    expect(received).toBeGreaterThan(size);
    expect(received).toBeLessThan(size + 64 * 1024);
    await srv.mctl(['sessions', 'cancel', id]);
  }, 300_000);
});

/** The pid of a `tar -c ... big.bin` under this test server's home (its runner's workspace), or null. */
function findTar(): number | null {
  for (const pid of readProcs()) {
    let cmd: string;
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    const argv = cmd.split('\0');
    if (argv[0] === 'tar' && argv.includes('big.bin') && argv.some((a) => a.startsWith(srv.home))) return pid;
  }
  return null;
}

function readProcs(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

/** Bytes the process has read so far (`rchar` in /proc/PID/io). */
function readChars(pid: number): number {
  return Number(/rchar:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))![1]);
}
