/**
 * @module What the API's door and the audit log cost per request, measured in one run:
 *
 * - the token check: the cache the server used to keep (hash + Map hit, never invalidated, so a
 *   revoked token kept working) against the store lookup it does now on every request (one
 *   indexed read by hash), on the store directly;
 * - one audit event written on its own, and 32 written at once (concurrent requests: on SQLite
 *   they share group commits), per event;
 * - over HTTP on loopback, the same trivial answer without a token (`GET /v1/healthz`) and with
 *   one (`GET /v1/whoami`: the lookup and the role check), and a refused write
 *   (`DELETE /v1/tokens/:id` of a token that does not exist: 404 with its audit event written
 *   before the answer) — sequential requests, p50 and p99.
 *
 * Usage: `node dist/bench/auth.js [--n 2000]` (SQLite on a temporary home; the server in this
 * process, no runners: `warm_runners: 0`).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadServerConfig } from '../src/config/index.js';
import { hashSecret } from '../src/core/ids.js';
import { startServer } from '../src/server/main.js';
import type { AuditInput } from '../src/store/repos/audit.js';

const i = process.argv.indexOf('--n');
const N = i > 0 ? Number(process.argv[i + 1]) : 2000;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

async function timed(n: number, fn: () => unknown): Promise<number[]> {
  const out: number[] = [];
  for (let k = 0; k < n; k++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out;
}

const event = (k: number): AuditInput => ({
  orgId: 'org_bench',
  actorTokenId: 'tok_bench',
  actorName: 'bench',
  action: 'createPool',
  method: 'POST',
  route: '/v1/pools',
  resource: `pool_${k}`,
  status: 201,
  outcome: 'ok',
  remoteAddr: '127.0.0.1',
  detail: null,
});

async function main(): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), 'mrn-bench-auth-'));
  const cfg = join(home, 'marionette.yaml');
  writeFileSync(cfg, 'server: { log_level: warn }\nproviders:\n  local: { warm_runners: 0 }\n');
  const srv = await startServer(loadServerConfig({ config: cfg, home, port: 0, gatewayPort: 0 }, {}));
  const token = srv.bootstrapToken!;
  const store = srv.ctx.store;
  try {
    const rows: [string, number[]][] = [];
    const cache = new Map([[hashSecret(token), { tokenId: 'x' }]]);
    rows.push(['token: cached (before; never invalidated)', await timed(N, () => cache.get(hashSecret(token)))]);
    rows.push(['token: store lookup (now, every request)', await timed(N, () => store.apiTokens.principal(token))]);
    let k = 0;
    rows.push(['audit: 1 event written alone', await timed(Math.min(N, 500), () => store.audit.record(event(k++)))]);
    const batch: number[] = [];
    for (let r = 0; r < Math.min(N, 500) / 32; r++) {
      const t = performance.now();
      await Promise.all(Array.from({ length: 32 }, () => store.audit.record(event(k++))));
      batch.push((performance.now() - t) / 32);
    }
    rows.push(['audit: 32 at once, per event', batch]);
    const call = (method: string, path: string, auth: boolean) => async () => {
      const res = await fetch(`${srv.apiUrl}${path}`, {
        method,
        headers: auth ? { authorization: `Bearer ${token}` } : {},
      });
      await res.arrayBuffer();
    };
    await timed(50, call('GET', '/v1/healthz', false));
    rows.push(['HTTP GET /v1/healthz (no token)', await timed(N / 4, call('GET', '/v1/healthz', false))]);
    rows.push(['HTTP GET /v1/whoami (lookup + role check)', await timed(N / 4, call('GET', '/v1/whoami', true))]);
    rows.push(['HTTP DELETE /v1/tokens/x (404 + audit row)', await timed(N / 4, call('DELETE', '/v1/tokens/x', true))]);
    const w = Math.max(...rows.map(([name]) => name.length));
    console.log(`${'case'.padEnd(w)}  ${'n'.padStart(5)}  ${'p50 ms'.padStart(8)}  ${'p99 ms'.padStart(8)}`);
    for (const [name, xs] of rows)
      console.log(
        `${name.padEnd(w)}  ${String(xs.length).padStart(5)}  ${pct(xs, 50).toFixed(3).padStart(8)}  ${pct(xs, 99).toFixed(3).padStart(8)}`,
      );
  } finally {
    await srv.close({ terminateRunners: true });
    rmSync(home, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
