/**
 * @module Helper process for bench/dispatch: the API clients of the throughput run, kept out of
 * the server's process so the server's CPU time per task is its own. It creates N sessions
 * (each with one task) through `POST /v1/sessions` over C concurrent keep-alive connections and
 * prints `created N MS CPU_MS` (wall time, and its own CPU time) when every request has been answered.
 * Usage: `node dist/bench/dispatch-clients.js API_URL TOKEN N C [POOL]`.
 */
import { performance } from 'node:perf_hooks';

async function main(): Promise<void> {
  const [apiUrl, token, n, c, pool] = process.argv.slice(2);
  if (!apiUrl || !token || !n || !c) throw new Error('usage: API_URL TOKEN N CONCURRENCY [POOL]');
  const total = Number(n);
  const body = JSON.stringify({ agent: 'noop', prompt: 'x', ...(pool ? { pool } : {}) });
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  let next = 0;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await Promise.all(
    Array.from({ length: Number(c) }, async () => {
      while (next < total) {
        next++;
        const res = await fetch(`${apiUrl}/v1/sessions`, { method: 'POST', headers, body });
        const text = await res.text();
        if (!res.ok) throw new Error(`POST /v1/sessions: ${res.status} ${text}`);
      }
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(
    `created ${total} ${(performance.now() - t0).toFixed(1)} ${((cpu.user + cpu.system) / 1000).toFixed(1)}\n`,
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`dispatch-clients: ${(e as Error).message}\n`);
  process.exit(1);
});
