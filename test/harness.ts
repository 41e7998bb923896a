/**
 * @module End-to-end test harness: starts the real `marionette serve` as a child process with
 * its own MARIONETTE_HOME and ephemeral ports, runs the real `mctl`, and cleans up every process
 * it started (server and runner process groups).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const BIN = {
  marionette: join(ROOT, 'bin', 'marionette'),
  mctl: join(ROOT, 'bin', 'mctl'),
  agent: join(ROOT, 'bin', 'marionette-agent'),
};

export interface ServerHandle {
  home: string;
  apiUrl: string;
  apiPort: number;
  gatewayPort: number;
  gatewaySocket: string;
  token: string;
  proc: ChildProcess;
  /** Stops the server process (SIGTERM, or SIGKILL with `hard`). */
  stop(hard?: boolean): Promise<void>;
  /** Starts the server again on the same home and ports. */
  restart(): Promise<ServerHandle>;
  /** Kills the server and every runner it started, removes the home. */
  destroy(): Promise<void>;
  api<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    token?: string | null,
  ): Promise<{ status: number; body: T; type: string | null }>;
  mctl(args: string[], opts?: { env?: Record<string, string>; timeoutMs?: number }): Promise<CmdResult>;
}

/** A task as the API returns it (the fields tests read). */
export interface TaskView {
  id: string;
  sessionId: string;
  ordinal: number;
  state: string;
  exitCode: number | null;
  error: string | null;
  attempt: number;
  retryOf: string | null;
  runnerId: string | null;
}

/** A session as `GET /v1/sessions/:id` returns it. */
export interface SessionView {
  id: string;
  state: string;
  stateReason: string | null;
  poolId: string | null;
  runnerId: string | null;
  tasks: TaskView[];
}

export interface CmdResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface StartOptions {
  home?: string;
  config?: string;
  port?: number;
  gatewayPort?: number;
  env?: Record<string, string>;
}

function parseBanner(text: string): { apiUrl: string; gatewayPort: number } | null {
  const api = /API\s+(https?:\/\/\S+)/.exec(text);
  const gw = /gateway\s+\S+:(\d+) and/.exec(text);
  if (!api || !gw || !text.includes('ready')) return null;
  return { apiUrl: api[1]!, gatewayPort: Number(gw[1]) };
}

/** Starts `marionette serve`; resolves once it prints `ready`. */
export async function startServer(opts: StartOptions = {}): Promise<ServerHandle> {
  const home = opts.home ?? mkdtempSync(join(tmpdir(), 'marionette-test-'));
  if (opts.config) writeFileSync(join(home, 'marionette.yaml'), opts.config);
  const args = [
    'serve',
    '--home',
    home,
    '--port',
    String(opts.port ?? 0),
    '--gateway-port',
    String(opts.gatewayPort ?? 0),
  ];
  if (opts.config) args.push('--config', join(home, 'marionette.yaml'));
  const proc = spawn(process.execPath, [BIN.marionette, ...args], {
    // HOME too: runners' `bash -l` then reads no login profile of the machine's user (one that,
    // say, runs `pyenv rehash` behind a lock file a killed shell left behind).
    // MARIONETTE_LOCAL_SANDBOX off: tests run local tasks unsandboxed unless they ask (test/sandbox.e2e.test.ts does).
    env: { ...process.env, MARIONETTE_HOME: home, HOME: home, MARIONETTE_LOCAL_SANDBOX: 'off', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  proc.stderr!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const deadline = Date.now() + 30_000;
  let banner: ReturnType<typeof parseBanner> = null;
  while (!banner) {
    if (proc.exitCode !== null) throw new Error(`marionette serve exited with ${proc.exitCode}:\n${out}`);
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`marionette serve did not become ready:\n${out}`);
    }
    await sleep(50);
    banner = parseBanner(out);
  }
  const apiUrl = banner.apiUrl;
  const apiPort = Number(new URL(apiUrl).port);
  const token = readFileSync(join(home, 'token'), 'utf8').trim();
  const handle: ServerHandle = {
    home,
    apiUrl,
    apiPort,
    gatewayPort: banner.gatewayPort,
    gatewaySocket: join(home, 'run', 'gateway.sock'),
    token,
    proc,
    async stop(hard = false) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill(hard ? 'SIGKILL' : 'SIGTERM');
      await exited;
    },
    restart() {
      return startServer({ ...opts, home, port: apiPort, gatewayPort: banner!.gatewayPort });
    },
    async destroy() {
      await handle.stop(true);
      killRunners(home);
      rmSync(home, { recursive: true, force: true });
    },
    async api(method, path, body, tok) {
      const headers: Record<string, string> = {};
      const t = tok === undefined ? token : tok;
      if (t) headers.authorization = `Bearer ${t}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(`${apiUrl}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* keep text */
      }
      return { status: res.status, body: parsed as never, type: res.headers.get('content-type') };
    },
    mctl(args, o = {}) {
      return run(
        BIN.mctl,
        args,
        { MARIONETTE_SERVER: apiUrl, MARIONETTE_TOKEN: token, MARIONETTE_HOME: home, ...o.env },
        o.timeoutMs,
      );
    },
  };
  return handle;
}

/** Runs a program and collects its output. */
export function run(
  bin: string,
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 60_000,
): Promise<CmdResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : 1
          : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Kills every local runner a server home started (their pids are in runner log names → handles in the db; we use /proc). */
export function killRunners(home: string): void {
  for (const pid of processesWithEnv('MARIONETTE_GATEWAY', `unix:${join(home, 'run', 'gateway.sock')}`)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
}

/** Pids whose environment has NAME=value (Linux /proc). */
export function processesWithEnv(name: string, value: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const env = readFileSync(`/proc/${d}/environ`, 'utf8').split('\0');
      if (env.includes(`${name}=${value}`)) out.push(Number(d));
    } catch {
      /* gone or not ours */
    }
  }
  return out;
}

/** Polls `fn` until it returns a truthy value. */
export async function until<T>(
  fn: () => Promise<T | null | undefined | false>,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

export function json<T = Record<string, unknown>>(r: CmdResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${r.code}):\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
}

/**
 * POST /v1/register on a server's gateway socket (how a runner joins): `body` as an object, or as
 * raw text for malformed requests. Resolves with the status, `Retry-After` and the parsed answer.
 */
export function registerOnGateway<B = Record<string, unknown>>(
  srv: { gatewaySocket: string },
  body: unknown,
): Promise<{ status: number; retryAfter: string | null; body: B }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        socketPath: srv.gatewaySocket,
        path: '/v1/register',
        method: 'POST',
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => {
          text += c.toString();
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            retryAfter: (res.headers['retry-after'] as string | undefined) ?? null,
            body: JSON.parse(text) as B,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(typeof body === 'string' ? body : JSON.stringify(body));
  });
}
