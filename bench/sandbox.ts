/**
 * @module Nested sandbox benchmark, in one run so the figures share the machine's load:
 * 1. Start overhead: the same command (`true`) spawned bare, in bubblewrap and in gVisor (the
 *    agent's own launchers, src/agent/sandbox/), from spawn to exit, interleaved run by run; and
 *    bubblewrap behind an egress allow list (the task's proxy started as the agent does, plus the
 *    in-sandbox bridge, a `node -e`, started before the command).
 * 2. Dispatch latency with the default local pool's nested sandbox on and off: two servers
 *    (MARIONETTE_LOCAL_SANDBOX=auto / off), one session each, then tasks on it one after another:
 *    task created → agent process started (the task's `startedAt - createdAt`) and → finished.
 *    bubblewrap is timed cold (the sandbox made when the command comes) and warm (the agent's
 *    default: made while the runner was idle, src/agent/sandbox/warm.ts; timed from the command's
 *    arrival, so the row is what a task sees).
 * Target: bubblewrap adds under 10 ms to a bare spawn at p50.
 *
 * Usage: `npm run bench:sandbox [-- --runs 40 --gvisor-runs 10 --tasks 30]`
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { SandboxHost } from '../src/agent/sandbox/index.js';
import type { Launch, SandboxNetwork, SandboxRuntime } from '../src/agent/sandbox/types.js';
import { taskEgress } from '../src/egress/runner.js';
import { PACKAGE_ROOT } from '../src/paths.js';

const argAt = (name: string) => process.argv.indexOf(`--${name}`);
const num = (name: string, d: number) => (argAt(name) > 0 ? Number(process.argv[argAt(name) + 1]) : d);
const RUNS = num('runs', 40);
const GVISOR_RUNS = num('gvisor-runs', 10);
const TASKS = num('tasks', 30);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}
const f = (x: number) => (Number.isNaN(x) ? 'n/a' : x.toFixed(1));

function once(file: string, args: string[], env: Record<string, string>, fds: number[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const c = spawn(file, args, { env, stdio: ['ignore', 'ignore', 'pipe', ...fds] });
    let err = '';
    c.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
    });
    c.on('error', reject);
    c.on('close', (code) =>
      code === 0 ? resolve(performance.now() - t0) : reject(new Error(`${file} exit ${code}: ${err}`)),
    );
  });
}

async function startOverhead(): Promise<void> {
  const ws = mkdtempSync(join(tmpdir(), 'marionette-bench-sandbox-'));
  // Cold: every sandbox made when the command comes. Warm: the agent's default, the sandbox made
  // while the runner was idle (src/agent/sandbox/warm.ts); timed from the command's arrival.
  const host = SandboxHost.detect({ path: process.env.PATH ?? '', home: null, warm: false });
  const warmHost = SandboxHost.detect({ path: process.env.PATH ?? '', home: null });
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  const times: Record<string, number[]> = {
    bare: [],
    bubblewrap: [],
    'bubblewrap, warm': [],
    gvisor: [],
    'bubblewrap, egress allow list': [],
  };
  const warmRun = async (i: number) => {
    const t0 = performance.now();
    const l = warmHost.launch({
      runtime: 'bubblewrap',
      workspace: ws,
      network: 'none',
      binds: [],
      limits: { memoryBytes: null, cpus: null, pids: null },
      argv: ['true'],
      env,
      name: `bench-warm-${i}`,
    });
    const p = l.prepared;
    let ms: number;
    if (p) {
      const closed = new Promise<number | null>((r) => p.child.once('close', (code) => r(code)));
      p.child.stdout?.resume();
      p.child.stderr?.resume();
      p.go();
      const code = await closed;
      if (code !== 0) throw new Error(`warm sandbox: exit ${code}`);
      ms = performance.now() - t0;
    } else ms = await once(l.file, l.args, l.env, l.fds); // the first one is cold
    for (const fd of l.fds) closeSync(fd);
    await l.finish({ code: 0, signal: null });
    return ms;
  };
  const inBox = async (runtime: SandboxRuntime, i: number, network: SandboxNetwork = 'none') => {
    const l: Launch = host.launch({
      runtime,
      workspace: ws,
      network,
      binds: [],
      limits: { memoryBytes: null, cpus: null, pids: null },
      argv: ['true'],
      env,
      name: `bench-${i}`,
    });
    const t0 = performance.now();
    const ms = await once(l.file, l.args, l.env, l.fds);
    for (const fd of l.fds) closeSync(fd);
    await l.finish({ code: 0, signal: null });
    return { ms, total: performance.now() - t0 };
  };
  try {
    for (let i = 0; i < RUNS + 2; i++) {
      const bare = await once('true', [], env, []);
      const bw = host.runtimes.includes('bubblewrap') ? await inBox('bubblewrap', i) : null;
      const warm = bw ? await warmRun(i) : null;
      const gv = host.runtimes.includes('gvisor') && i < GVISOR_RUNS + 2 ? await inBox('gvisor', i) : null;
      let proxied: number | null = null;
      if (bw) {
        // As the agent does per task: the proxy on a fresh socket, the sandbox behind it, then closed.
        const t0 = performance.now();
        const e = await taskEgress({ allow: ['example.invalid'] }, host.egressSocket());
        await inBox('bubblewrap', i, e.network);
        await e.close();
        proxied = performance.now() - t0;
      }
      if (i < 2) continue; // warm-up
      times.bare!.push(bare);
      if (bw) times.bubblewrap!.push(bw.ms);
      if (warm !== null) times['bubblewrap, warm']!.push(warm);
      if (gv) times.gvisor!.push(gv.ms);
      if (proxied !== null) times['bubblewrap, egress allow list']!.push(proxied);
    }
  } finally {
    warmHost.dispose();
    rmSync(ws, { recursive: true, force: true });
  }
  const base = pct(times.bare!, 50);
  console.log(
    '\nStart overhead of `true` (ms, spawn to exit; runs: bare/bubblewrap %d, gVisor %d)\n',
    RUNS,
    GVISOR_RUNS,
  );
  console.log('| runtime | median | p90 | over bare at p50 |');
  console.log('|---|---:|---:|---:|');
  for (const [name, xs] of Object.entries(times)) {
    if (!xs.length) {
      console.log(`| ${name} | not on this machine | | |`);
      continue;
    }
    const over = pct(xs, 50) - base;
    const target =
      name.startsWith('bubblewrap') && !name.includes('egress')
        ? over < 10
          ? ' (target < 10: ok)'
          : ' (target < 10: MISSED)'
        : '';
    console.log(
      `| ${name} | ${f(pct(xs, 50))} | ${f(pct(xs, 90))} | ${name === 'bare' ? '' : `${over >= 0 ? '+' : ''}${f(over)}${target}`} |`,
    );
  }
}

interface Srv {
  url: string;
  token: string;
  stop(): Promise<void>;
  home: string;
}

async function startServer(sandbox: 'auto' | 'off'): Promise<Srv> {
  const home = mkdtempSync(join(tmpdir(), 'marionette-bench-sandbox-home-'));
  const proc = spawn(
    process.execPath,
    [join(PACKAGE_ROOT, 'bin', 'marionette'), 'serve', '--home', home, '--port', '0', '--gateway-port', '0'],
    {
      env: { ...process.env, MARIONETTE_HOME: home, HOME: home, MARIONETTE_LOCAL_SANDBOX: sandbox },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  proc.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  proc.stderr.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const deadline = Date.now() + 60_000;
  let m: RegExpExecArray | null = null;
  while (!m || !out.includes('ready')) {
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`server did not start:\n${out}`);
    await sleep(50);
    m = /API\s+(http:\/\/\S+)/.exec(out);
  }
  return {
    url: m[1] as string,
    token: readFileSync(join(home, 'token'), 'utf8').trim(),
    home,
    async stop() {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
      rmSync(home, { recursive: true, force: true });
    },
  };
}

async function api<T>(s: Srv, method: string, path: string, body?: unknown): Promise<T> {
  const r = await fetch(s.url + path, {
    method,
    headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return (await r.json()) as T;
}

interface Task {
  id: string;
  state: string;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

async function taskDone(s: Srv, id: string): Promise<Task> {
  for (;;) {
    const t = await api<Task>(s, 'GET', `/v1/tasks/${id}`);
    if (!['queued', 'assigned', 'running'].includes(t.state)) return t;
    await sleep(2);
  }
}

async function dispatch(): Promise<void> {
  const servers = { off: await startServer('off'), on: await startServer('auto') };
  const res: Record<string, { started: number[]; finished: number[] }> = {
    off: { started: [], finished: [] },
    on: { started: [], finished: [] },
  };
  try {
    const sessions: Record<string, string> = {};
    for (const [k, s] of Object.entries(servers)) {
      const sess = await api<{ id: string; tasks?: { id: string }[] }>(s, 'POST', '/v1/sessions', {
        agent: 'shell',
        prompt: 'true',
      });
      sessions[k] = sess.id;
      const v = await api<{ tasks: { id: string }[] }>(s, 'GET', `/v1/sessions/${sess.id}`);
      const first = await taskDone(s, v.tasks[0]!.id);
      if (first.state !== 'succeeded') throw new Error(`first task on ${k}: ${first.state}`);
    }
    for (let i = 0; i < TASKS + 2; i++)
      for (const k of i % 2 ? ['on', 'off'] : ['off', 'on']) {
        const s = servers[k as 'on' | 'off'];
        const t = await api<{ id: string }>(s, 'POST', `/v1/sessions/${sessions[k]}/tasks`, { prompt: 'true' });
        const d = await taskDone(s, t.id);
        if (d.state !== 'succeeded') throw new Error(`task on ${k}: ${d.state}`);
        if (i < 2) continue;
        res[k]!.started.push((d.startedAt ?? Number.NaN) - d.createdAt);
        res[k]!.finished.push((d.finishedAt ?? Number.NaN) - d.createdAt);
      }
  } finally {
    await Promise.all(Object.values(servers).map((s) => s.stop()));
  }
  console.log(`\nDispatch on a warm local session, ${TASKS} tasks each (ms, server timestamps)\n`);
  console.log('| local pool | created → started p50 | p90 | created → finished p50 | p90 |');
  console.log('|---|---:|---:|---:|---:|');
  for (const [k, r] of Object.entries(res))
    console.log(
      `| nested sandbox ${k} | ${f(pct(r.started, 50))} | ${f(pct(r.started, 90))} | ${f(pct(r.finished, 50))} | ${f(pct(r.finished, 90))} |`,
    );
}

async function main(): Promise<void> {
  await startOverhead();
  await dispatch();
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
