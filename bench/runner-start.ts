/**
 * @module Runner start benchmark: how long a new session on a `local` pool waits for its runner,
 * created → assigned (server timestamps from the event bus), with no warm runner (a pool with
 * `min_runners: 0`: a `marionette-agent` process is started for the session) and with the warm
 * runner of the default `local` pool (`providers.local.warm_runners`, default 1). The cold runs
 * are broken down on the same clock: provision call (spawn) → runner registered (`connecting`) →
 * hello answered (`idle`) → task assigned. Baselines measured in the same run: `node -e 0`
 * (spawn to exit: the floor of any Node process) and `marionette-agent --version` (spawn, load
 * the agent bundle, exit). Cold and warm sessions, and the two baselines, alternate, so load on
 * the machine hits both alike. Also the agent's resident memory (VmRSS) once idle.
 *
 * Usage: `npm run bench:runner-start [-- --runs 20] [--raw samples.json]`
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadServerConfig } from '../src/config/index.js';
import { AGENT_BIN } from '../src/paths.js';
import { type RunningServer, startServer } from '../src/server/main.js';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const RUNS = arg('runs', 20);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
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

/** Spawn to exit of one process (ms). */
function timeProcess(args: string[]): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, args, { stdio: 'ignore' });
    c.once('error', reject);
    c.once('exit', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`exit ${code}`))));
  });
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

interface Run {
  assigned: number;
  /** Cold runs only, from created: agent process spawned, registered, hello answered (idle). */
  spawned?: number;
  registered?: number;
  idle?: number;
}

async function main(): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), 'marionette-bench-'));
  const cfg = join(home, 'marionette.yaml');
  writeFileSync(
    cfg,
    [
      'server: { log_level: warn }',
      'sessions: { idle_timeout: 1h }',
      'pools:',
      '  cold: { provider: local, min_runners: 0, max_runners: 4 }',
      '',
    ].join('\n'),
  );
  const srv = await startServer(loadServerConfig({ config: cfg, home, port: 0, gatewayPort: 0 }, {}));
  const token = srv.bootstrapToken!;
  // The warm runner of the default pool (already there since providers.local.warm_runners; set
  // here too, so the script also measures a version without that default).
  await api(srv, token, 'PATCH', '/v1/pools/local', { minRunners: 1 });
  const { bus } = srv.ctx;
  // Runner states and task states on the bus clock.
  const runnerAt = new Map<string, Map<string, number>>();
  const taskAt = new Map<string, Map<string, number>>();
  const note = (m: Map<string, Map<string, number>>, id: string, state: string) => {
    const byState = m.get(id) ?? new Map<string, number>();
    if (!byState.has(state)) byState.set(state, performance.now());
    m.set(id, byState);
  };
  bus.on('runner:updated', ({ runner }) => note(runnerAt, runner.id, runner.state));
  // Instants the bus does not carry, taken by wrapping (bench only): the agent process spawned
  // (the provider's provision call returned) and the runner registered (its move to `connecting`).
  const runners = srv.ctx.store.runners;
  const transition = runners.transition.bind(runners);
  runners.transition = (async (id: string, to: string, ...rest: unknown[]) => {
    const ok = await (transition as (...a: unknown[]) => Promise<boolean>)(id, to, ...rest);
    if (ok && to === 'connecting') note(runnerAt, id, 'registered');
    return ok;
  }) as typeof runners.transition;
  const local = srv.ctx.providers.get('local')!;
  const provision = local.provision.bind(local);
  local.provision = async (spec) => {
    const h = await provision(spec);
    note(runnerAt, spec.runnerId, 'spawned');
    return h;
  };
  bus.on('task:updated', ({ task }) => note(taskAt, task.id, task.state));
  const rss: number[] = [];
  const runs: Record<'cold' | 'warm', Run[]> = { cold: [], warm: [] };
  const floor: number[] = [];
  const load: number[] = [];

  const waitFor = async <T>(f: () => T | undefined, what: string): Promise<T> => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const v = f();
      if (v !== undefined) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const warmIdle = async () => {
    const pool = (await srv.ctx.store.pools.get(srv.ctx.defaultOrg, 'local'))!;
    for (;;) {
      const live = await srv.ctx.store.runners.live({ poolId: pool.id });
      if (live.some((r) => r.state === 'idle' && r.sessionId === null)) return;
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  const session = async (kind: 'cold' | 'warm', measure: boolean) => {
    if (kind === 'warm') await warmIdle();
    const s = (await api(srv, token, 'POST', '/v1/sessions', {
      agent: 'shell',
      prompt: 'true',
      pool: kind === 'cold' ? 'cold' : 'local',
    })) as { id: string; tasks: { id: string }[] };
    const taskId = s.tasks[0]!.id;
    const t = await waitFor(() => {
      const m = taskAt.get(taskId);
      return m?.has('succeeded') || m?.has('failed') ? m : undefined;
    }, `task ${taskId}`);
    if (!t.has('succeeded')) throw new Error(`task ${taskId} did not succeed`);
    const sess = (await api(srv, token, 'GET', `/v1/sessions/${s.id}`)) as { runnerId: string };
    const runner = (await api(srv, token, 'GET', `/v1/runners/${sess.runnerId}`)) as {
      handle: { externalId: string };
    };
    if (measure) {
      const created = t.get('queued')!;
      const run: Run = { assigned: t.get('assigned')! - created };
      if (kind === 'cold') {
        const r = runnerAt.get(sess.runnerId)!;
        run.spawned = (r.get('spawned') ?? Number.NaN) - created;
        run.registered = (r.get('registered') ?? Number.NaN) - created;
        run.idle = (r.get('idle') ?? Number.NaN) - created;
        rss.push(rssMb(Number(runner.handle.externalId)));
      }
      runs[kind].push(run);
    }
    await api(srv, token, 'POST', `/v1/sessions/${s.id}/cancel`, {});
  };

  try {
    // One warm-up of each, then alternate.
    await session('cold', false);
    await session('warm', false);
    for (let i = 0; i < RUNS; i++) {
      const order: ('cold' | 'warm')[] = i % 2 ? ['warm', 'cold'] : ['cold', 'warm'];
      for (const k of order) await session(k, true);
      floor.push(await timeProcess(['-e', '0']));
      load.push(await timeProcess([AGENT_BIN, '--version']));
    }
  } finally {
    await srv.close({ terminateRunners: true });
    rmSync(home, { recursive: true, force: true });
  }

  // --raw FILE: the samples as JSON too (to merge runs of two versions taken in turns).
  const rawAt = process.argv.indexOf('--raw');
  if (rawAt > 0)
    writeFileSync(process.argv[rawAt + 1]!, JSON.stringify({ cold: runs.cold, warm: runs.warm, floor, load, rss }));
  const row = (name: string, xs: number[]) =>
    `| ${name.padEnd(64)} | ${pct(xs, 50).toFixed(1).padStart(7)} | ${pct(xs, 90).toFixed(1).padStart(7)} |`;
  const cold = runs.cold;
  console.log(`\nrunner start, ${RUNS} alternating runs each (ms)\n`);
  console.log(`| ${'row'.padEnd(64)} | ${'p50'.padStart(7)} | ${'p90'.padStart(7)} |`);
  console.log(`| ${'-'.repeat(64)} | ${'-'.repeat(7)} | ${'-'.repeat(7)} |`);
  const rows: [string, number[]][] = [
    ['new session, no warm runner: created → assigned', cold.map((r) => r.assigned)],
    ['  created → agent process spawned', cold.map((r) => r.spawned!)],
    ['  created → runner registered (POST /v1/register answered)', cold.map((r) => r.registered!)],
    ['  created → hello answered (runner idle)', cold.map((r) => r.idle!)],
    ['new session, warm runner (default pool): created → assigned', runs.warm.map((r) => r.assigned)],
  ];
  for (const [name, xs] of rows) console.log(row(name, xs));
  console.log(row('baseline: node -e 0 (spawn → exit)', floor));
  console.log(row('baseline: marionette-agent --version (spawn, load, exit)', load));
  console.log(`\nagent RSS once idle: p50 ${pct(rss, 50).toFixed(1)} MB, p90 ${pct(rss, 90).toFixed(1)} MB`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
