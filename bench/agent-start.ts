/**
 * @module Agent start benchmark: from spawning `marionette-agent` to its registration request
 * arriving, and to its WebSocket upgrade arriving, against a stand-in gateway on a unix socket in
 * this process (it answers a registration after 5 ms, as a server does its token check and write,
 * and ends the run at the upgrade). With `--other PATH` it alternates this agent and another
 * build's `bin/marionette-agent` (e.g. an older version's), so load hits both alike.
 *
 * Usage: `npm run bench:agent-start [-- --runs 20 --other /path/to/other/bin/marionette-agent]`
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { AGENT_BIN } from '../src/paths.js';

const argAt = (name: string) => process.argv.indexOf(`--${name}`);
const RUNS = argAt('runs') > 0 ? Number(process.argv[argAt('runs') + 1]) : 20;
const bins: Record<string, string> = { 'this agent': AGENT_BIN };
if (argAt('other') > 0) bins.other = process.argv[argAt('other') + 1]!;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'marionette-agent-start-'));
  const sock = join(dir, 'gateway.sock');
  let cur: { child: ChildProcess; registered?: number; upgraded?: number } | null = null;
  const gw = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (cur) cur.registered = performance.now();
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ runnerId: 'run_bench', credential: 'c', poolName: 'bench', heartbeatIntervalMs: 5000 }),
        );
      }, 5);
    });
  });
  gw.on('upgrade', (_req, socket) => {
    socket.destroy();
    if (!cur) return;
    cur.upgraded = performance.now();
    cur.child.kill('SIGKILL');
  });
  await new Promise<void>((r) => gw.listen(sock, r));
  const names = Object.keys(bins);
  const out = Object.fromEntries(names.map((n) => [n, { registered: [] as number[], upgraded: [] as number[] }]));
  try {
    for (let i = 0; i < RUNS + 1; i++)
      for (const name of i % 2 ? [...names].reverse() : names) {
        const t0 = performance.now();
        const child = spawn(process.execPath, [bins[name]!], {
          env: {
            ...process.env,
            MARIONETTE_GATEWAY: `unix:${sock}`,
            MARIONETTE_REGISTRATION_TOKEN: 'bench',
            MARIONETTE_RUNNER_ID: 'run_bench',
            MARIONETTE_WORKSPACE: dir,
          },
          stdio: 'ignore',
        });
        cur = { child };
        const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        await new Promise((r) => child.once('exit', r));
        clearTimeout(killer);
        if (i === 0 || cur.registered === undefined || cur.upgraded === undefined) continue; // warm-up
        out[name]!.registered.push(cur.registered - t0);
        out[name]!.upgraded.push(cur.upgraded - t0);
      }
  } finally {
    gw.close();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`\nagent start, ${RUNS} alternating runs (ms)\n`);
  console.log('| agent | spawn → registration received p50 | p90 | spawn → WebSocket upgrade p50 | p90 |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const n of names) {
    const o = out[n]!;
    const f = (x: number) => x.toFixed(1);
    console.log(
      `| ${n} | ${f(pct(o.registered, 50))} | ${f(pct(o.registered, 90))} | ${f(pct(o.upgraded, 50))} | ${f(pct(o.upgraded, 90))} |`,
    );
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
