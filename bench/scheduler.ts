/**
 * @module Scheduler benchmark: `decide` over 100, 1,000 and 10,000 compiled pools, against two
 * baselines measured in the same run. Target: p99 under 1 ms at 10,000 pools, verdicts included.
 */
import {
  compilePool,
  decide,
  type PlacementRequest,
  type PoolCandidate,
  type RunnerView,
} from '../src/core/scheduler.js';
import { parseSelector } from '../src/core/selector.js';
import type { Pool } from '../src/core/types.js';
import { findProvider, providerClassView } from '../src/providers/registry.js';

/** No provider is built in the benchmark: class rows only (as before the registry held them). */
const BUILT = new Map();

const SIZES = [100, 1_000, 10_000];
const MAX_ITERATIONS = 2_000;
const WARMUP = 200;
const MAX_MS_PER_CASE = 5_000;

const PROVIDERS = ['docker', 'kubernetes', 'e2b', 'modal', 'local', 'pool'] as const;
const GPUS = ['nvidia', 'nvidia', 'amd', 'none'];
const VRAMS = ['8GB', '16GB', '24GB', '48GB', '12Gi'];
const OSES = ['linux', 'linux', 'darwin'];
const SELECTOR_TEXT = 'gpu=nvidia,vram>=16GB,os in (linux),!spot';

/** Deterministic pseudo-random numbers, so every run builds the same pools. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1_664_525 + 1_013_904_223) >>> 0;
    return s / 2 ** 32;
  };
}

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)] as T;
}

/**
 * A mix where most pools fail somewhere (inactive, other org, substrate: e2b and modal lack
 * toolchain:node, selector: wrong gpu / too little vram / darwin / spot) and a few are eligible.
 */
function buildPools(n: number, uniqueLabels = false): Pool[] {
  const r = rng(n);
  const pools: Pool[] = [];
  for (let i = 0; i < n; i++) {
    const providerId = pick(r, PROVIDERS);
    const labels: Record<string, string> = {
      gpu: pick(r, GPUS),
      vram: pick(r, VRAMS),
      os: pick(r, OSES),
      // Normally 7 zones, so label sets repeat across pools (as in real fleets); `uniqueLabels`
      // gives every pool its own zone, which defeats the per-label-set selector cache.
      zone: uniqueLabels ? `z${i}` : `z${i % 7}`,
    };
    if (r() < 0.3) labels.spot = 'true';
    pools.push({
      id: `pool-${i}`,
      orgId: r() < 0.05 ? 'org-other' : 'org-1',
      name: `pool-${String(i).padStart(5, '0')}`,
      mode: providerId === 'pool' ? 'pool' : 'managed',
      providerId,
      priority: Math.floor(r() * 10),
      active: r() > 0.05,
      labels,
      minRunners: 0,
      maxRunners: r() < 0.5 ? null : 1 + Math.floor(r() * 20),
      idleTimeoutMs: null,
      selector: r() < 0.2 ? 'os=linux' : null,
      runtimeProvides: r() < 0.1 ? { runtimeKinds: ['native', 'npm'], requirementKinds: ['git', 'gpu'] } : null,
      sandboxConfig: {},
      lifecycle: 'per-session',
      sandboxMode: 'runner-is-sandbox',
      suspendConfig: { strategy: 'terminate', fallback: 'terminate', minDurationMs: 0, maxDurationMs: null },
      createdAt: 0,
      updatedAt: 0,
    });
  }
  return pools;
}

function buildRunners(pool: Pool, r: () => number): RunnerView[] {
  const none: Record<string, string> = {};
  const count = pool.mode === 'pool' ? Math.floor(r() * 4) : Math.floor(r() * 3);
  return Array.from({ length: count }, (_, k) => ({
    id: `${pool.id}-r${k}`,
    state: r() < 0.5 ? 'idle' : 'busy',
    labels: pool.mode === 'pool' ? { vram: pick(r, VRAMS), arch: 'arm64' } : none,
    sessionId: null,
  }));
}

interface Fixture {
  pools: Pool[];
  runners: RunnerView[][];
  unavailable: (string | null)[];
  candidates: PoolCandidate[];
}

function buildFixture(n: number, uniqueLabels = false): Fixture {
  const pools = buildPools(n, uniqueLabels);
  const r = rng(n * 31 + 7);
  const runners = pools.map((p) => buildRunners(p, r));
  const unavailable = pools.map(() => (r() < 0.02 ? 'Docker Engine unreachable at /var/run/docker.sock' : null));
  return { pools, runners, unavailable, candidates: candidatesFor(pools, runners, unavailable) };
}

function candidatesFor(pools: Pool[], runners: RunnerView[][], unavailable: (string | null)[]): PoolCandidate[] {
  return pools.map((p, i) => ({
    pool: compilePool(p, providerClassView(p.providerId, BUILT)),
    capabilities: findProvider(p.providerId)?.capabilities,
    providerUnavailable: unavailable[i] ?? null,
    runners: runners[i] ?? [],
    providerLiveRunners: 0,
  }));
}

function request(): PlacementRequest {
  return {
    orgId: 'org-1',
    agent: {
      name: 'claude',
      runtimes: [{ kind: 'npm' }, { kind: 'native' }],
      requires: [{ kind: 'git' }, { kind: 'toolchain:node' }],
    },
    authMode: 'byok',
    selector: parseSelector(SELECTOR_TEXT),
  };
}

/** Baseline 1: what a scheduler without the compile step does: recompile every pool (derive capabilities, parse selectors) and re-parse the request selector on every decision. */
function naiveDecide(fx: Fixture): number {
  const req = { ...request(), selector: parseSelector(SELECTOR_TEXT) };
  const d = decide(req, candidatesFor(fx.pools, fx.runners, fx.unavailable));
  return d.verdicts.length;
}

/** Baseline 2: a lower bound, not a scheduler: a plain array filter doing only label equality (no substrate, no numeric compare, no verdicts). */
function labelFilter(fx: Fixture): number {
  let hits = 0;
  const eligible = fx.pools.filter(
    (p) => p.active && p.orgId === 'org-1' && p.labels.gpu === 'nvidia' && p.labels.os === 'linux',
  );
  hits += eligible.length;
  return hits;
}

interface Row {
  pools: number;
  variant: string;
  iterations: number;
  p50: number;
  p99: number;
  mean: number;
}

let sink = 0;

function measure(pools: number, variant: string, fn: () => number): Row {
  for (let i = 0; i < WARMUP; i++) sink += fn();
  const samples: number[] = [];
  const deadline = performance.now() + MAX_MS_PER_CASE;
  while (samples.length < MAX_ITERATIONS && performance.now() < deadline) {
    const t0 = process.hrtime.bigint();
    sink += fn();
    samples.push(Number(process.hrtime.bigint() - t0) / 1_000);
  }
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] as number;
  const mean = samples.reduce((s, x) => s + x, 0) / samples.length;
  return { pools, variant, iterations: samples.length, p50: at(0.5), p99: at(0.99), mean };
}

function fmt(n: number): string {
  return n >= 100 ? n.toFixed(0) : n.toFixed(1);
}

function main(): void {
  const rows: Row[] = [];
  for (const n of SIZES) {
    const fx = buildFixture(n);
    const req = request();
    const check = decide(req, fx.candidates);
    const eligible = check.verdicts.filter((v) => v.reason === null || v.reason === 'lower_priority').length;
    const reasons = new Map<string, number>();
    for (const v of check.verdicts) reasons.set(String(v.reason), (reasons.get(String(v.reason)) ?? 0) + 1);
    console.log(
      `${n} pools: chosen ${check.chosen?.poolName ?? 'none'} (${check.chosen?.action ?? '-'}), ${eligible} eligible; ` +
        [...reasons].map(([k, v]) => `${k} ${v}`).join(', '),
    );
    rows.push(measure(n, 'decide (compiled pools)', () => decide(req, fx.candidates).verdicts.length));
    const unique = buildFixture(n, true);
    rows.push(
      measure(n, 'decide, every pool with unique labels', () => decide(req, unique.candidates).verdicts.length),
    );
    rows.push(measure(n, 'baseline: recompile pools + reparse each decision', () => naiveDecide(fx)));
    rows.push(measure(n, 'baseline: array filter, label equality only', () => labelFilter(fx)));
  }
  const header = ['pools', 'variant', 'iterations', 'p50 µs', 'p99 µs', 'mean µs'];
  const body = rows.map((r) => [String(r.pools), r.variant, String(r.iterations), fmt(r.p50), fmt(r.p99), fmt(r.mean)]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ')} |`;
  console.log('');
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const b of body) console.log(line(b));
  const target = rows.find((r) => r.pools === 10_000 && r.variant.startsWith('decide'));
  if (target !== undefined) {
    const ok = target.p99 < 1_000;
    console.log(`\ntarget: decide p99 < 1000 µs at 10,000 pools: ${ok ? 'MET' : 'MISSED'} (${fmt(target.p99)} µs)`);
    if (!ok) process.exitCode = 1;
  }
  if (sink === -1) console.log(sink);
}

main();
