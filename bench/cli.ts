/**
 * @module CLI latency benchmark: what a person at a terminal feels. Wall-clock time of whole
 * processes, from spawn to exit, against `node -e 0` (the floor) measured in the same run, and the
 * same two waits done with `curl` on the REST API (the server's share):
 *
 * - `mctl --version`, `mctl pools list`;
 * - `mctl tasks create --wait` on a running session (prompt `true`);
 * - `mctl sessions create --wait` on the default `local` pool (prompt `true`; each new session is
 *   cancelled after it is timed, so runners do not pile up; each starts once the pool has its warm
 *   runner again, as sessions created seconds apart do);
 * - `curl` POST + `curl` of the task's watch stream (`GET /v1/tasks/:id/watch`, which the server
 *   closes when the task ends), for a task and for a new session.
 *
 * Every row runs `--runs` times (default 30), the programs taking turns (and the order of the
 * builds rotating each round), so a load spike on this shared machine hits all of them alike.
 * `--mctl PATH` measures another build's `bin/mctl`; `--against PATH` measures a second build in
 * the same rounds, in its own column (e.g. a build of main: before / after in one sitting).
 * Targets: `mctl --version` within 1.5x of `node -e 0`; `pools list` within `node -e 0` + 30 ms;
 * `tasks create --wait` within + 40 ms; `sessions create --wait` within + 100 ms.
 *
 * The server runs in this process on a temporary home (SQLite, loopback, ephemeral ports).
 *
 * `--sandbox off|auto|bubblewrap|gvisor` sets the default local pool's nested sandbox (default: the
 * server's, `auto`), so the task rows can be read with and without its start cost.
 *
 * `--agent sh` runs the prompt with `/bin/sh -c` (a card the bench adds) instead of the built-in
 * `shell` card, so the task rows measure less of the agent and more of the CLI.
 *
 * Usage: `npm run bench:cli [-- --runs 30 --agent shell --sandbox off --mctl bin/mctl --against /path/to/base/bin/mctl]`
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { loadServerConfig } from '../src/config/index.js';
import { startServer } from '../src/server/main.js';

const flag = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const RUNS = Number(flag('runs') ?? 30);
const AGENT = flag('agent') ?? 'shell';
/** The default local pool's nested sandbox (`providers.local.nested_sandbox`); default: the server's default. */
const SANDBOX = flag('sandbox');
if (SANDBOX !== undefined && !['auto', 'bubblewrap', 'gvisor', 'off'].includes(SANDBOX))
  throw new Error(`--sandbox ${SANDBOX}: expected auto, bubblewrap, gvisor or off`);
const MCTL = resolve(flag('mctl') ?? fileURLToPath(new URL('../../bin/mctl', import.meta.url)));
const AGAINST = flag('against') ? resolve(flag('against')!) : null;
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`--runs ${flag('runs')}: expected a positive integer`);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}

interface Done {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a program to its exit; the time is spawn → exit. */
function time(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Done> {
  return new Promise((res, rej) => {
    const t0 = performance.now();
    const c = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => {
      stdout += d;
    });
    c.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    c.once('error', rej);
    c.once('close', (code) => res({ code, stdout, stderr, ms: performance.now() - t0 }));
  });
}

function check(what: string, d: Done): Done {
  if (d.code !== 0) throw new Error(`${what} exited ${d.code}: ${d.stderr.trim() || d.stdout.trim()}`);
  return d;
}

async function main(): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), 'marionette-bench-cli-'));
  const cfg = join(home, 'marionette.yaml');
  writeFileSync(
    cfg,
    [
      'server: { log_level: warn }',
      ...(SANDBOX ? [`providers: { local: { nested_sandbox: ${SANDBOX} } }`] : []),
      // `--agent sh`: the prompt under /bin/sh -c, no login shell (the built-in `shell` runs bash).
      'agents:',
      '  sh: { command: ["/bin/sh", "-c", "{{prompt}}"], description: "runs the prompt with /bin/sh -c" }',
      '',
    ].join('\n'),
  );
  const srv = await startServer(loadServerConfig({ config: cfg, home, port: 0, gatewayPort: 0 }, {}));
  const token = srv.bootstrapToken!;
  const env = {
    ...process.env,
    MARIONETTE_SERVER: srv.apiUrl,
    MARIONETTE_TOKEN: token,
    MARIONETTE_HOME: home,
    HOME: home,
  };
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${srv.apiUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const json = (await res.json()) as Record<string, unknown>;
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  const curlArgs = ['-sS', '-f', '-H', `authorization: Bearer ${token}`];
  const curlPost = (path: string, body: unknown) =>
    time(
      'curl',
      [
        ...curlArgs,
        '-H',
        'content-type: application/json',
        '-X',
        'POST',
        '-d',
        JSON.stringify(body),
        srv.apiUrl + path,
      ],
      env,
    );
  const curlWatch = (taskId: string) =>
    time('curl', [...curlArgs, '-N', `${srv.apiUrl}/v1/tasks/${taskId}/watch`], env);
  const endState = (sse: string) => {
    const m = /event: end\ndata: (.*)\n/.exec(sse);
    if (!m) throw new Error(`the watch stream did not end the task: ${sse.slice(-300)}`);
    return (JSON.parse(m[1]!) as { task: { state: string } }).task.state;
  };
  const cancel = (sessionId: string) => api('POST', `/v1/sessions/${sessionId}/cancel`, {}).catch(() => undefined);
  // Every session but the task rows' is cancelled after it is timed, so runners do not pile up
  // (by listing: an older mctl may not print the new session's id).
  let keep = '';
  const cancelOthers = async () => {
    const open = (await api('GET', '/v1/sessions?limit=100&state=scheduling,provisioning,active,idle')) as {
      items: { id: string }[];
    };
    for (const s of open.items) if (s.id !== keep) await cancel(s.id);
  };
  // A new session takes the default pool's warm runner, and the pool starts another at once. The
  // session rows measure a session that starts warm, as a person creating sessions seconds apart
  // gets; back to back (three per round) they would time the replacement's start instead.
  const warmRunner = async () => {
    let pool: { runners: { idle: number } } | null = null;
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
      pool = (await api('GET', '/v1/pools/local')) as { runners: { idle: number } };
      if (pool.runners.idle >= 1) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    const runners = await api('GET', '/v1/runners');
    throw new Error(
      `the default pool kept no warm runner for 30 s: ${JSON.stringify(pool?.runners)}; runners ${JSON.stringify(runners)}`,
    );
  };

  try {
    // The running session the task rows use (its runner stays bound to it between tasks).
    const first = await api('POST', '/v1/sessions', { agent: AGENT, prompt: 'true' });
    const sessionId = String(first.id);
    keep = sessionId;
    const firstTask = (first.tasks as { id: string }[])[0]!.id;
    const w = check('waiting for the first task', await curlWatch(firstTask));
    if (endState(w.stdout) !== 'succeeded') throw new Error(`the first task did not succeed: ${w.stdout}`);

    const builds = [{ name: 'mctl', path: MCTL }, ...(AGAINST ? [{ name: 'against', path: AGAINST }] : [])];
    type Row = { label: string; target: (floor: number) => number | null; per: Map<string, number[]> };
    const rows: Row[] = [];
    const row = (label: string, target: Row['target']) => {
      const r: Row = { label, target, per: new Map() };
      rows.push(r);
      return r;
    };
    const floor = row('node -e 0', () => null);
    const version = row('mctl --version', (f) => f * 1.5);
    const pools = row('mctl pools list', (f) => f + 30);
    const tasks = row('mctl tasks create --wait', (f) => f + 40);
    const sessions = row('mctl sessions create --wait', (f) => f + 100);
    const curlTask = row('curl: POST task + watch', () => null);
    const curlSession = row('curl: POST session + watch', () => null);
    const add = (r: Row, who: string, ms: number) => {
      const xs = r.per.get(who) ?? [];
      xs.push(ms);
      r.per.set(who, xs);
    };

    // Warm-up: one of each, untimed (the file cache, the JIT of the server's routes).
    for (const b of builds) {
      check(`${b.path} --version`, await time(b.path, ['--version'], env));
      check(`${b.path} pools list`, await time(b.path, ['pools', 'list'], env));
    }

    for (let i = 0; i < RUNS; i++) {
      const order = builds.map((_, k) => builds[(k + i) % builds.length]!);
      add(floor, 'node', check('node -e 0', await time(process.execPath, ['-e', '0'], env)).ms);
      for (const b of order)
        add(version, b.name, check(`${b.path} --version`, await time(b.path, ['--version'], env)).ms);
      add(floor, 'node', check('node -e 0', await time(process.execPath, ['-e', '0'], env)).ms);
      for (const b of order)
        add(pools, b.name, check(`${b.path} pools list`, await time(b.path, ['pools', 'list'], env)).ms);
      for (const b of order) {
        const d = check(
          'tasks create --wait',
          await time(b.path, ['tasks', 'create', '--session', sessionId, '--prompt', 'true', '--wait'], env),
        );
        add(tasks, b.name, d.ms);
      }
      {
        const p = check('curl POST task', await curlPost(`/v1/sessions/${sessionId}/tasks`, { prompt: 'true' }));
        const id = (JSON.parse(p.stdout) as { id: string }).id;
        const d = check('curl watch', await curlWatch(id));
        if (endState(d.stdout) !== 'succeeded') throw new Error(`task ${id} did not succeed`);
        add(curlTask, 'curl', p.ms + d.ms);
      }
      for (const b of order) {
        await warmRunner();
        const d = check(
          'sessions create --wait',
          await time(b.path, ['sessions', 'create', '--agent', AGENT, '--prompt', 'true', '--wait'], env),
        );
        add(sessions, b.name, d.ms);
        await cancelOthers();
      }
      {
        await warmRunner();
        const p = check('curl POST session', await curlPost('/v1/sessions', { agent: AGENT, prompt: 'true' }));
        const s = JSON.parse(p.stdout) as { id: string; tasks: { id: string }[] };
        const d = check('curl watch', await curlWatch(s.tasks[0]!.id));
        if (endState(d.stdout) !== 'succeeded') throw new Error(`session ${s.id} did not succeed`);
        add(curlSession, 'curl', p.ms + d.ms);
        await cancel(s.id);
      }
    }
    await cancel(sessionId);

    const f = pct(floor.per.get('node')!, 50);
    const cell = (xs: number[] | undefined) => (xs ? `${pct(xs, 50).toFixed(1)} / ${pct(xs, 90).toFixed(1)}` : '');
    const heads = [
      'row (ms, median / p90)',
      ...builds.map((b) => (b.name === 'mctl' ? 'this mctl' : 'against')),
      'target',
    ];
    const lines = rows.map((r) => {
      const t = r.target(f);
      const other = r.per.get('node') ?? r.per.get('curl');
      const cells = builds.map((b) => {
        const xs = r.per.get(b.name) ?? (other && b.name === 'mctl' ? other : undefined);
        if (!xs) return '';
        const ok = t === null ? '' : pct(xs, 50) <= t ? ' ok' : ' MISSED';
        return cell(xs) + ok;
      });
      return [r.label, ...cells, t === null ? '' : `<= ${t.toFixed(1)}`];
    });
    const widths = heads.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
    const fmt = (l: string[]) => `| ${l.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
    console.log(
      `\nmctl CLI latency: ${RUNS} runs per row, agent ${AGENT}, local nested sandbox ${SANDBOX ?? 'default (auto)'}, node ${process.version}`,
    );
    console.log(`this mctl: ${MCTL}${AGAINST ? `\nagainst:   ${AGAINST}` : ''}\n`);
    console.log(fmt(heads));
    console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
    for (const l of lines) console.log(fmt(l));
    console.log('\n(node -e 0 and the curl rows are the same programs for every column; shown once.)');
  } finally {
    // The local runners it started go too (a cancelled session's runner may stay warm in its pool).
    await srv.close({ terminateRunners: true });
    rmSync(home, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
