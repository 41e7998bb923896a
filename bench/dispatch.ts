/**
 * @module Dispatch benchmark: warm-pool dispatch latency (task created → agent process started on
 * an idle runner) p50/p99, and throughput (tasks/s, created through the REST API until finished)
 * with 100 runners, all on loopback, against baselines measured in the same run: a raw WebSocket
 * round trip and a bare `spawn` of the same agent process.
 *
 * The server runs in this process (so task creation and the `task.started` report are timed on
 * one clock, from the event bus); the 100 runners are real Agent instances in one helper process
 * (bench/dispatch-agents.ts), each with its own WebSocket to the gateway. The agent card runs
 * `/bin/true`, so the measurement is the control plane, not an AI agent's start-up.
 * Targets: p50 < 10 ms, p99 < 50 ms, ≥ 1,000 tasks/s.
 *
 * With `--database-url postgres://...` the same measurements run twice in one run, on SQLite and
 * then on PostgreSQL (a fresh database created on that server for the run and dropped after; the
 * role needs CREATEDB), and a last table puts them side by side.
 *
 * Usage: `npm run bench:dispatch [-- --runners 100 --latency 300 --tasks 3000 --database-url URL]`
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import WebSocket, { WebSocketServer } from 'ws';
import { loadServerConfig } from '../src/config/index.js';
import { type RunningServer, startServer } from '../src/server/main.js';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const RUNNERS = arg('runners', 100);
const LATENCY_SAMPLES = arg('latency', 300);
const THROUGHPUT_TASKS = arg('tasks', 3000);
const CONCURRENCY = arg('concurrency', 64);
const WIRE_TASKS = arg('wire-tasks', 10000);
const DATABASE_URL = (() => {
  const i = process.argv.indexOf('--database-url');
  return i > 0 ? (process.argv[i + 1] ?? null) : null;
})();

/** What one database's run measured, for the side-by-side table. */
interface Summary {
  p50: number;
  p99: number;
  tasksPerSec: number;
  wirePerSec: number;
  serverCpuPerTask: number;
  wireCpuPerTask: number;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}
const ms = (x: number) => `${x.toFixed(2)} ms`;

/** Baseline 1: WebSocket echo round trip on loopback. */
async function wsRoundTrip(n: number): Promise<number[]> {
  const http = createServer();
  const wss = new WebSocketServer({ server: http });
  wss.on('connection', (s) => s.on('message', (d) => s.send(d)));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
  const port = (http.address() as AddressInfo).port;
  const ws = new WebSocket(`ws://127.0.0.1:${port}`);
  await new Promise((r) => ws.once('open', r));
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await new Promise<void>((r) => {
      ws.once('message', () => r());
      ws.send(JSON.stringify({ type: 'ping', i }));
    });
    out.push(performance.now() - t0);
  }
  ws.close();
  wss.close();
  http.close();
  return out;
}

/** Baseline 2: spawning the agent process itself (the floor under "agent process started"). */
async function bareSpawn(n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      const c = spawn('/bin/true', [], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      c.once('spawn', () => out.push(performance.now() - t0));
      c.once('error', reject);
      c.once('exit', () => resolve());
    });
  }
  return out;
}

const TICK_MS = 1000 / 100; // USER_HZ: /proc reports CPU time in 1/100 s on Linux

/** CPU time (ms) of a live process and of its children it has reaped, from /proc/PID/stat. */
function procCpu(pid: number): { self: number; children: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at field 3.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const field = (n: number) => Number(f[n - 3]) * TICK_MS;
  return { self: field(14) + field(15), children: field(16) + field(17) };
}

/**
 * CPU time (ms) of this process's main thread, the one that runs the event loop, from
 * /proc/self/task/PID/stat. The other threads (V8's GC helpers, libuv's pool) run beside it on other
 * cores; the event loop is what one server process cannot spread.
 */
function mainThreadCpu(): number {
  const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[14 - 3]) + Number(f[15 - 3])) * TICK_MS;
}

/**
 * Baseline: the most task processes this machine can start and reap with no control plane: one
 * Node process per core, each spawning `/bin/true` with piped stdout and stderr (as an agent
 * does) 64 at a time, `n` in all.
 */
async function spawnCeiling(n: number): Promise<{ procs: number; ms: number }> {
  const procs = availableParallelism();
  const code = `
    const { spawn } = require('node:child_process');
    let left = Number(process.argv[1]);
    const one = () => new Promise((res, rej) => {
      const c = spawn('/bin/true', [], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      c.stdout.resume(); c.stderr.resume(); c.once('error', rej); c.once('close', res);
    });
    Promise.all(Array.from({ length: 64 }, async () => { while (left-- > 0) await one(); }))
      .then(() => process.stdout.write('done\\n'));`;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: procs }, (_, i) => {
      const share = Math.floor(n / procs) + (i < n % procs ? 1 : 0);
      const c = spawn(process.execPath, ['-e', code, String(share)], { stdio: ['ignore', 'ignore', 'inherit'] });
      return new Promise<void>((resolve, reject) =>
        c.once('exit', (status) => (status === 0 ? resolve() : reject(new Error(`spawn baseline exited ${status}`)))),
      );
    }),
  );
  return { procs, ms: performance.now() - t0 };
}

async function api(srv: RunningServer, token: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${srv.apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function measure(databaseUrl: string | null): Promise<Summary> {
  const home = mkdtempSync(join(tmpdir(), 'marionette-bench-'));
  const work = join(home, 'work');
  const cfg = join(home, 'marionette.yaml');
  writeFileSync(
    cfg,
    [
      'server: { log_level: warn }',
      // 100 runners join with one pool token at once: the registration rate limit is not what this measures.
      'limits: { gateway: { registration_burst: 1000, registrations_per_minute: 6000 } }',
      'agents:',
      '  noop: { command: ["/bin/true", "{{prompt}}"], description: "spawns /bin/true (the prompt as its argument)" }',
      'pools:',
      '  bench: { mode: pool, provider: pool, lifecycle: per-task }',
      '  wire: { mode: pool, provider: pool, lifecycle: per-task }',
      '  local: { provider: local, active: false }',
      '',
    ].join('\n'),
  );
  const srv = await startServer(
    loadServerConfig(
      { config: cfg, home, port: 0, gatewayPort: 0 },
      databaseUrl ? { MARIONETTE_DATABASE_URL: databaseUrl } : {},
    ),
  );
  const token = srv.bootstrapToken!;
  let agents: ChildProcess | null = null;
  let wire: ChildProcess | null = null;
  try {
    const tok = await api(srv, token, 'POST', '/v1/runners/tokens', { pool: 'bench' });
    const helper = fileURLToPath(new URL('./dispatch-agents.js', import.meta.url));
    agents = spawn(
      process.execPath,
      [helper, String(RUNNERS), `127.0.0.1:${srv.gatewayPort}`, String(tok.token), 'bench', work],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve, reject) => {
      agents!.stdout!.on('data', (c: Buffer) => c.toString().includes('ready') && resolve());
      agents!.once('exit', (c) => reject(new Error(`agents exited ${c}`)));
    });
    const { store } = srv.ctx;
    const poolId = async (name: string) =>
      (await store.pools.list(srv.ctx.defaultOrg)).find((p) => p.name === name)!.id;
    const waitIdle = async (pool: string) => {
      const id = await poolId(pool);
      for (;;) {
        const idle = (await store.runners.list({ poolId: id, states: ['idle'] })).length;
        if (idle >= RUNNERS) return;
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await waitIdle('bench');

    // Timestamps from the bus: a task's queued event (created) and running event (process started).
    const created = new Map<string, number>();
    const started = new Map<string, number>();
    const finished = new Map<string, number>();
    let onFinished: (() => void) | null = null;
    srv.ctx.bus.on('task:updated', ({ task }) => {
      const now = performance.now();
      if (task.state === 'queued' && !created.has(task.id)) created.set(task.id, now);
      else if (task.state === 'running' && !started.has(task.id)) started.set(task.id, now);
      else if (task.state === 'succeeded' || task.state === 'failed' || task.state === 'lost') {
        finished.set(task.id, now);
        onFinished?.();
      }
    });
    const waitFinished = (n: number) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (finished.size >= n) {
            onFinished = null;
            resolve();
          }
        };
        onFinished = check;
        check();
      });

    // Warm-up.
    for (let i = 0; i < 20; i++)
      await api(srv, token, 'POST', '/v1/sessions', { agent: 'noop', prompt: 'x', pool: 'bench' });
    await waitFinished(20);

    // Latency: one task at a time onto an idle warm runner.
    const latency: number[] = [];
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      const before = finished.size;
      const s = await api(srv, token, 'POST', '/v1/sessions', { agent: 'noop', prompt: 'x', pool: 'bench' });
      const id = (s.tasks as { id: string }[])[0]!.id;
      await waitFinished(before + 1);
      latency.push(started.get(id)! - created.get(id)!);
    }

    // Throughput: many tasks created concurrently through the API by a separate client process,
    // until all finished. CPU time is read per process, so the server's share is its own.
    const clientsJs = fileURLToPath(new URL('./dispatch-clients.js', import.meta.url));
    const throughput = async (pool: string, n: number) => {
      const base = finished.size;
      const ids: string[] = [];
      const untrack = srv.ctx.bus.on('task:updated', ({ task }) => {
        if (task.state === 'queued' && !started.has(task.id) && !finished.has(task.id)) ids.push(task.id);
      });
      const cpu0 = process.cpuUsage();
      const loop0 = mainThreadCpu();
      const commits0 = store.commitCount();
      const t0 = performance.now();
      const clients = spawn(process.execPath, [clientsJs, srv.apiUrl, token, String(n), String(CONCURRENCY), pool], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const clientsOut = await new Promise<string>((resolve, reject) => {
        let out = '';
        clients.stdout!.on('data', (c: Buffer) => {
          out += c.toString();
        });
        clients.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`clients exited ${code}`))));
      });
      const [, , createdMs, clientsCpuMs] = clientsOut.trim().split(' ');
      await waitFinished(base + n);
      const elapsed = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      const loopCpuMs = mainThreadCpu() - loop0;
      const commits = store.commitCount() - commits0;
      untrack();
      const unique = [...new Set(ids)];
      return {
        n,
        elapsed,
        createdMs: Number(createdMs),
        clientsCpu: Number(clientsCpuMs),
        serverCpuMs: (cpu.user + cpu.system) / 1000,
        loopCpuMs,
        commits,
        ok: unique.filter((id) => finished.has(id)).length,
        underLoad: unique.filter((id) => started.has(id)).map((id) => started.get(id)! - created.get(id)!),
      };
    };

    const agentsCpu0 = procCpu(agents.pid!);
    const real = await throughput('bench', THROUGHPUT_TASKS);
    const agentsEnd = procCpu(agents.pid!);
    const agentsCpu = { self: agentsEnd.self - agentsCpu0.self, children: agentsEnd.children - agentsCpu0.children };

    // The same through runners that speak the protocol but spawn nothing: the server's own limit.
    const wireTok = await api(srv, token, 'POST', '/v1/runners/tokens', { pool: 'wire' });
    wire = spawn(
      process.execPath,
      [
        fileURLToPath(new URL('./dispatch-wire-runners.js', import.meta.url)),
        String(RUNNERS),
        `127.0.0.1:${srv.gatewayPort}`,
        String(wireTok.token),
        'wire',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve, reject) => {
      wire!.stdout!.on('data', (c: Buffer) => c.toString().includes('ready') && resolve());
      wire!.once('exit', (c) => reject(new Error(`wire runners exited ${c}`)));
    });
    await waitIdle('wire');
    const wired = await throughput('wire', WIRE_TASKS);
    const failed = (await store.tasks.listByState(['failed', 'lost'])).length;
    const ceiling = await spawnCeiling(THROUGHPUT_TASKS);

    const ws = await wsRoundTrip(1000);
    const sp = await bareSpawn(300);
    const rows: [string, string, string, string][] = [
      ['case', 'p50', 'p99', 'note'],
      [
        `dispatch latency, idle warm runner (${RUNNERS} runners)`,
        ms(pct(latency, 50)),
        ms(pct(latency, 99)),
        `target p50 < 10 ms, p99 < 50 ms; n=${latency.length}`,
      ],
      [
        'dispatch latency under throughput load',
        ms(pct(real.underLoad, 50)),
        ms(pct(real.underLoad, 99)),
        `created→started while ${CONCURRENCY} clients create`,
      ],
      ['baseline: WebSocket round trip, loopback', ms(pct(ws, 50)), ms(pct(ws, 99)), 'n=1000'],
      ['baseline: bare spawn of /bin/true', ms(pct(sp, 50)), ms(pct(sp, 99)), 'n=300'],
    ];
    const w = [0, 1, 2, 3].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
    for (const r of rows) console.log(r.map((x, c) => x.padEnd(w[c]!)).join('  '));
    console.log('');
    const perSec = (n: number, msTotal: number) => (n / (msTotal / 1000)).toFixed(0);
    const perTask = (x: number, n: number) => (x / n).toFixed(3);
    const trows: [string, string, string][] = [
      ['throughput case', 'tasks/s', 'note'],
      [
        `marionette, end to end (${RUNNERS} agents running /bin/true)`,
        perSec(real.n, real.elapsed),
        `${real.n} tasks in ${(real.elapsed / 1000).toFixed(2)} s; finished ${real.ok}/${real.n}; API create alone ${perSec(real.n, real.createdMs)}/s`,
      ],
      [
        '  server capacity, event-loop thread',
        perSec(real.n, real.loopCpuMs),
        `event-loop thread CPU ${perTask(real.loopCpuMs, real.n)} ms/task (tasks per second of one core); target ≥ 1000`,
      ],
      [
        '  server capacity, whole process',
        perSec(real.n, real.serverCpuMs),
        `all threads ${perTask(real.serverCpuMs, real.n)} ms/task (event loop plus GC helper threads)`,
      ],
      [
        `marionette, wire-level runners (${RUNNERS}, spawn nothing)`,
        perSec(wired.n, wired.elapsed),
        `${wired.n} tasks in ${(wired.elapsed / 1000).toFixed(2)} s; finished ${wired.ok}/${wired.n}: one server process's own rate; target ≥ 1000`,
      ],
      [
        '  server CPU in that run',
        perSec(wired.n, wired.serverCpuMs),
        `event loop ${perTask(wired.loopCpuMs, wired.n)} ms/task, all threads ${perTask(wired.serverCpuMs, wired.n)} ms/task`,
      ],
      [
        `baseline: bare spawn of /bin/true, ${ceiling.procs} processes`,
        perSec(THROUGHPUT_TASKS, ceiling.ms),
        'no control plane: the most task processes this machine can start and reap',
      ],
    ];
    const tw = [0, 1, 2].map((c) => Math.max(...trows.map((r) => r[c]!.length)));
    for (const r of trows) console.log(r.map((x, c) => x.padEnd(tw[c]!)).join('  '));
    console.log('');
    console.log(
      `CPU per task, agents run: server ${perTask(real.serverCpuMs, real.n)}, ` +
        `agents process ${perTask(agentsCpu.self, real.n)}, ` +
        `task processes ${perTask(agentsCpu.children, real.n)}, ` +
        `API clients ${perTask(real.clientsCpu, real.n)} ms; ${availableParallelism()} cores`,
    );
    console.log(
      `SQLite commits per task (group commit): ${(real.commits / real.n).toFixed(2)} with agents, ` +
        `${(wired.commits / wired.n).toFixed(2)} with wire-level runners; failed or lost tasks: ${failed}`,
    );
    return {
      p50: pct(latency, 50),
      p99: pct(latency, 99),
      tasksPerSec: real.n / (real.elapsed / 1000),
      wirePerSec: wired.n / (wired.elapsed / 1000),
      serverCpuPerTask: real.serverCpuMs / real.n,
      wireCpuPerTask: wired.serverCpuMs / wired.n,
    };
  } finally {
    agents?.kill('SIGTERM');
    wire?.kill('SIGTERM');
    await srv.close({ terminateRunners: true });
    rmSync(home, { recursive: true, force: true });
  }
}

/** A database of its own on the server at `url`, dropped by the returned function. */
async function freshPostgres(url: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const pg = await import('pg');
  const name = `marionette_bench_${process.pid}_${Date.now().toString(36)}`;
  const admin = async (sql: string) => {
    const c = new pg.default.Client({ connectionString: url });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await admin(`CREATE DATABASE "${name}"`);
  const own = new URL(url);
  own.pathname = `/${name}`;
  return { url: own.toString(), drop: () => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`) };
}

async function main(): Promise<void> {
  if (!DATABASE_URL) {
    await measure(null);
    return;
  }
  if (!/^postgres(ql)?:\/\//.test(DATABASE_URL))
    throw new Error(`--database-url ${JSON.stringify(DATABASE_URL)}: expected a postgres:// URL`);
  console.log('== SQLite ==');
  const lite = await measure(null);
  console.log('\n== PostgreSQL ==');
  const db = await freshPostgres(DATABASE_URL);
  let pgs: Summary;
  try {
    pgs = await measure(db.url);
  } finally {
    await db.drop();
  }
  const rows: string[][] = [
    ['side by side', 'SQLite', 'PostgreSQL', 'PostgreSQL / SQLite'],
    ['warm dispatch p50 (ms)', lite.p50.toFixed(2), pgs.p50.toFixed(2), (pgs.p50 / lite.p50).toFixed(2)],
    ['warm dispatch p99 (ms)', lite.p99.toFixed(2), pgs.p99.toFixed(2), (pgs.p99 / lite.p99).toFixed(2)],
    [
      'end to end tasks/s',
      lite.tasksPerSec.toFixed(0),
      pgs.tasksPerSec.toFixed(0),
      (pgs.tasksPerSec / lite.tasksPerSec).toFixed(2),
    ],
    [
      'wire-level tasks/s',
      lite.wirePerSec.toFixed(0),
      pgs.wirePerSec.toFixed(0),
      (pgs.wirePerSec / lite.wirePerSec).toFixed(2),
    ],
    [
      'server CPU ms/task, agents',
      lite.serverCpuPerTask.toFixed(3),
      pgs.serverCpuPerTask.toFixed(3),
      (pgs.serverCpuPerTask / lite.serverCpuPerTask).toFixed(2),
    ],
    [
      'server CPU ms/task, wire-level',
      lite.wireCpuPerTask.toFixed(3),
      pgs.wireCpuPerTask.toFixed(3),
      (pgs.wireCpuPerTask / lite.wireCpuPerTask).toFixed(2),
    ],
  ];
  const w = [0, 1, 2, 3].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
  console.log('');
  for (const r of rows) console.log(r.map((x, c) => x.padEnd(w[c]!)).join('  '));
  console.log('targets: PostgreSQL server CPU within 2x of SQLite; warm p50 under 10 ms (issue 21)');
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
