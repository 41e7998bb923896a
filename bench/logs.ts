/**
 * @module Log throughput and latency benchmark: one task prints many lines; they go through the
 * runner agent, the gateway and the store, and come back out of the follow stream
 * (`GET /v1/sessions/:id/logs?follow=1`, Server-Sent Events). Measured against a baseline in the
 * same run: the same command writing to a file.
 *
 * - the server is the real `marionette serve` in its own process (SQLite, or PostgreSQL with
 *   `--database-url`), with the default `local` pool: the agent is a real `marionette-agent`
 *   process the server starts;
 * - the task runs a small Node writer (written to the bench's temporary home) that prints
 *   `SEQ WALLCLOCK_MS` lines, either as fast as it can (`--lines`, throughput) or at a fixed rate
 *   (`--rate` lines/s for `--seconds`, latency);
 * - latency is from the writer's `write()` (the wall-clock time in the line) to the line arriving
 *   in the follow stream, both on this machine's clock;
 * - RSS of the agent and of the server is sampled from /proc every 100 ms (max reported).
 *
 * Targets (DESIGN.md): 100,000 lines/s from one runner, p99 under 100 ms, nothing lost, agent RSS
 * under 100 MB.
 *
 * Usage: `npm run bench:logs [-- --lines 1000000 --rate 20000 --seconds 5 --database-url postgres://...]`
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const argv = process.argv;
const arg = (name: string, def: number) => {
  const i = argv.indexOf(`--${name}`);
  return i > 0 ? Number(argv[i + 1]) : def;
};
const LINES = arg('lines', 1_000_000);
const RATE = arg('rate', 20_000);
const SECONDS = arg('seconds', 5);
const dbIdx = argv.indexOf('--database-url');
const DATABASE_URL = dbIdx > 0 ? argv[dbIdx + 1] : undefined;
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The task: prints `SEQ WALLCLOCK_MS` lines; rate 0 = as fast as the pipe takes them. */
const WRITER = `
const n = Number(process.argv[2]); const rate = Number(process.argv[3]);
const now = () => performance.timeOrigin + performance.now();
// Waits for 'drain' when the pipe is full, so a line's time is taken when it can really be
// written, not when it joins a buffer inside this process.
const out = (chunk) => process.stdout.write(chunk) ? null : new Promise((r) => process.stdout.once('drain', r));
(async () => {
  const t0 = now();
  for (let i = 1; i <= n; ) {
    const due = rate === 0 ? n : Math.min(n, Math.floor(((now() - t0) / 1000) * rate));
    if (i > due) { await new Promise((r) => setTimeout(r, 1)); continue; }
    let chunk = '';
    const t = now().toFixed(3);
    for (let k = 0; k < 500 && i <= due; k++, i++) chunk += i + ' ' + t + '\\n';
    const wait = out(chunk);
    if (wait) await wait;
  }
})();
`;

function pct(xs: number[], p: number): number {
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}

const TICK_MS = 10; // USER_HZ: /proc reports CPU time in 1/100 s on Linux

/** CPU time (ms, user + system) a process has used, from /proc/PID/stat. */
function cpuOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * TICK_MS;
  } catch {
    return 0;
  }
}

function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Pids of this home's agent processes (the local provider's children). */
function agentPids(home: string): number[] {
  const want = `MARIONETTE_GATEWAY=unix:${join(home, 'run', 'gateway.sock')}`;
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (!readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('marionette-agent')) continue;
      if (readFileSync(`/proc/${d}/environ`, 'utf8').split('\0').includes(want)) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

interface Server {
  proc: ChildProcess;
  apiUrl: string;
  token: string;
}

async function startServer(home: string): Promise<Server> {
  writeFileSync(join(home, 'marionette.yaml'), 'server: { log_level: warn }\n');
  const proc = spawn(
    process.execPath,
    [
      join(ROOT, 'bin', 'marionette'),
      'serve',
      '--home',
      home,
      '--port',
      '0',
      '--gateway-port',
      '0',
      '--config',
      join(home, 'marionette.yaml'),
    ],
    {
      env: {
        ...process.env,
        MARIONETTE_HOME: home,
        HOME: home,
        ...(DATABASE_URL ? { MARIONETTE_DATABASE_URL: DATABASE_URL } : {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  proc.stderr!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const m = /API\s+(http:\/\/\S+)/.exec(out);
    if (m && out.includes('ready')) {
      return { proc, apiUrl: m[1]!, token: readFileSync(join(home, 'token'), 'utf8').trim() };
    }
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`server did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface RunResult {
  lines: number;
  inOrder: boolean;
  /** CPU ms used per 1,000 lines, by the agent and by the server. */
  agentCpu: number;
  serverCpu: number;
  /** Task started → finished (every line stored and acknowledged), from the task's own timestamps. */
  storedSeconds: number;
  seconds: number;
  latencies: number[];
  agentRss: number;
  serverRss: number;
  state: string;
  attempts: number;
}

/** Creates a session running the writer and follows its logs until it ends. */
/**
 * Runs `cmd` as a task and follows its logs until it ends. The first call creates the session;
 * later ones queue follow-up tasks in it, so one agent (one runner) serves every run.
 */
async function runTask(
  srv: Server,
  home: string,
  cmd: string,
  expected: number,
  session: { id?: string },
): Promise<RunResult> {
  const api = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${srv.apiUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${srv.token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return (await r.json()) as Record<string, unknown>;
  };
  let agentRss = 0;
  let serverRss = 0;
  const sampler = setInterval(() => {
    for (const p of agentPids(home)) agentRss = Math.max(agentRss, rssOf(p));
    serverRss = Math.max(serverRss, rssOf(srv.proc.pid!));
  }, 100);
  const agentPid = agentPids(home)[0];
  const cpu0 = { agent: agentPid ? cpuOf(agentPid) : 0, server: cpuOf(srv.proc.pid!) };
  try {
    let taskId: string;
    if (!session.id) {
      const s = (await api('POST', '/v1/sessions', { agent: 'shell', prompt: cmd })) as {
        id: string;
        tasks: { id: string }[];
      };
      session.id = s.id;
      taskId = s.tasks[0]!.id;
    } else taskId = (await api('POST', `/v1/sessions/${session.id}/tasks`, { prompt: cmd })).id as string;
    const res = await fetch(`${srv.apiUrl}/v1/tasks/${taskId}/logs?follow=1`, {
      headers: { authorization: `Bearer ${srv.token}` },
    });
    const latencies: number[] = [];
    let count = 0;
    let lastSeq = 0;
    let inOrder = true;
    let first = 0;
    let last = 0;
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      const now = performance.timeOrigin + performance.now();
      buf += decoder.decode(chunk, { stream: true });
      let i = buf.indexOf('\n\n');
      while (i >= 0) {
        const ev = buf.slice(0, i);
        buf = buf.slice(i + 2);
        i = buf.indexOf('\n\n');
        if (!ev.includes('event: line')) continue;
        const data = JSON.parse(ev.slice(ev.indexOf('data: ') + 6)) as { stream: string; line: string };
        if (data.stream !== 'stdout') continue;
        const sp = data.line.indexOf(' ');
        const seq = Number(data.line.slice(0, sp));
        if (seq !== lastSeq + 1) inOrder = false;
        lastSeq = seq;
        count++;
        latencies.push(now - Number(data.line.slice(sp + 1)));
        if (!first) first = now;
        last = now;
      }
    }
    const fin = (await api('GET', `/v1/sessions/${session.id}`)) as {
      tasks: {
        id: string;
        state: string;
        attempt: number;
        retryOf: string | null;
        startedAt: number;
        finishedAt: number;
      }[];
    };
    // This run's task and any retry of it.
    const t = fin.tasks.filter((x) => x.id === taskId || x.retryOf === taskId);
    const stored = t[0] ? (t[0].finishedAt - t[0].startedAt) / 1000 : Number.NaN;
    return {
      lines: count,
      inOrder: inOrder && count === expected,
      seconds: (last - first) / 1000,
      storedSeconds: stored,
      agentCpu: agentPid ? ((cpuOf(agentPid) - cpu0.agent) / count) * 1000 : Number.NaN,
      serverCpu: ((cpuOf(srv.proc.pid!) - cpu0.server) / count) * 1000,
      latencies,
      agentRss,
      serverRss,
      state: t.map((x) => x.state).join(','),
      attempts: t.length,
    };
  } finally {
    clearInterval(sampler);
  }
}

/** Baseline: the same writer into a file. */
async function baseline(writer: string, n: number, rate: number, file: string): Promise<number> {
  const fd = openSync(file, 'w');
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const c = spawn(process.execPath, [writer, String(n), String(rate)], { stdio: ['ignore', fd, 'inherit'] });
    c.once('error', reject);
    c.once('exit', () => resolve());
  });
  closeSync(fd);
  return (performance.now() - t0) / 1000;
}

const mb = (b: number) => `${(b / 1048576).toFixed(0)} MB`;
const f0 = (x: number) => Math.round(x).toLocaleString('en-US');

async function main(): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), 'marionette-bench-logs-'));
  const writer = join(home, 'writer.cjs');
  writeFileSync(writer, WRITER);
  const srv = await startServer(home);
  try {
    const node = process.execPath;
    const session: { id?: string } = {};
    // Warm-up: start the local runner, load everything once.
    await runTask(srv, home, `${node} ${writer} 1000 0`, 1000, session);
    const idleAgentRss = Math.max(0, ...agentPids(home).map(rssOf));
    const idleServerRss = rssOf(srv.proc.pid!);
    const fileSecs = await baseline(writer, LINES, 0, join(home, 'out.txt'));
    const tp = await runTask(srv, home, `${node} ${writer} ${LINES} 0`, LINES, session);
    const rateN = RATE * SECONDS;
    const lat = await runTask(srv, home, `${node} ${writer} ${rateN} ${RATE}`, rateN, session);
    const rows: string[][] = [
      [
        'run',
        'lines',
        'lines/s stored',
        'lines/s followed',
        'p50 ms',
        'p99 ms',
        'in order, none lost',
        'task',
        'agent RSS',
        'server RSS',
        'CPU ms per 1k lines: agent, server',
      ],
      ['baseline: writer > file', f0(LINES), f0(LINES / fileSecs), '', '', '', '', '', '', '', ''],
      ['idle, after a 1,000-line warm-up task', '', '', '', '', '', '', '', mb(idleAgentRss), mb(idleServerRss), ''],
      [
        `marionette, as fast as it goes (${DATABASE_URL ? 'PostgreSQL' : 'SQLite'})`,
        f0(tp.lines),
        f0(tp.lines / tp.storedSeconds),
        f0(tp.lines / tp.seconds),
        pct(tp.latencies, 50).toFixed(1),
        pct(tp.latencies, 99).toFixed(1),
        tp.inOrder ? 'yes' : 'NO',
        `${tp.state} (${tp.attempts} attempt${tp.attempts > 1 ? 's' : ''})`,
        mb(tp.agentRss),
        mb(tp.serverRss),
        `${tp.agentCpu.toFixed(1)}, ${tp.serverCpu.toFixed(1)}`,
      ],
      [
        `marionette, paced at ${f0(RATE)} lines/s`,
        f0(lat.lines),
        f0(lat.lines / lat.storedSeconds),
        f0(lat.lines / lat.seconds),
        pct(lat.latencies, 50).toFixed(1),
        pct(lat.latencies, 99).toFixed(1),
        lat.inOrder ? 'yes' : 'NO',
        `${lat.state} (${lat.attempts} attempt${lat.attempts > 1 ? 's' : ''})`,
        mb(lat.agentRss),
        mb(lat.serverRss),
        `${lat.agentCpu.toFixed(1)}, ${lat.serverCpu.toFixed(1)}`,
      ],
    ];
    const w = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
    for (const r of rows) console.log(`| ${r.map((x, c) => x.padEnd(w[c]!)).join(' | ')} |`);
    const tpOk = tp.lines / tp.storedSeconds >= 100_000;
    const p99Ok = pct(lat.latencies, 99) < 100;
    const lostOk = tp.inOrder && lat.inOrder && tp.attempts === 1 && lat.attempts === 1;
    const rssOk = Math.max(tp.agentRss, lat.agentRss) < 100 * 1048576;
    console.log(
      `\ntargets: 100,000 lines/s ${tpOk ? 'MET' : 'MISSED'}; p99 < 100 ms at ${f0(RATE)} lines/s ${p99Ok ? 'MET' : 'MISSED'}; ` +
        `nothing lost ${lostOk ? 'MET' : 'MISSED'}; agent RSS < 100 MB ${rssOk ? 'MET' : 'MISSED'}`,
    );
    process.exitCode = tpOk && p99Ok && lostOk && rssOk ? 0 : 1;
  } finally {
    srv.proc.kill('SIGTERM');
    await new Promise((r) => srv.proc.once('exit', r));
    for (const p of agentPids(home)) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    rmSync(home, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
