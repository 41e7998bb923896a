/**
 * @module A pool's nested sandbox (`sandbox_mode: runner-creates-sandbox`), parsed from its
 * `sandbox_config.sandbox` into what each task assignment carries (src/protocol/messages.ts
 * TaskSandbox) and what placement checks: the runtime the pool asks for. Pure; errors name the key.
 *
 * ```yaml
 * sandbox_mode: runner-creates-sandbox
 * sandbox_config:
 *   sandbox:
 *     runtime: gvisor        # auto (default: bubblewrap, else gvisor) | bubblewrap | gvisor
 *     network: none          # none (default) | host: the default egress when network.egress is unset
 *     binds: [/home/me/.claude, "/home/me/.cache:rw"]   # read-only unless :rw
 *     memory: 2Gi            # per task; none by default
 *     cpus: 1.5              # or 1500m
 *     pids: 512
 * ```
 */
import { type EgressCapabilities, type EgressPolicy, narrowEgress, poolEgress } from './egress.js';
import { InvalidRequest } from './errors.js';
import { parseQuantity } from './quantity.js';

export type NestedRuntime = 'auto' | 'gvisor' | 'bubblewrap';

export interface NestedSandbox {
  runtime: NestedRuntime;
  network: 'none' | 'host';
  binds: { path: string; rw: boolean }[];
  limits: { memoryBytes: number | null; cpus: number | null; pids: number | null };
}

const KEYS = ['runtime', 'network', 'binds', 'memory', 'cpus', 'pids'];
const RUNTIMES: readonly NestedRuntime[] = ['auto', 'gvisor', 'bubblewrap'];

function bad(key: string, what: string): InvalidRequest {
  return new InvalidRequest(`sandbox_config.sandbox.${key}: ${what}`);
}

function parseBind(v: unknown, i: number): { path: string; rw: boolean } {
  let path: string;
  let rw = false;
  if (typeof v === 'string') {
    const m = /^(.*?)(?::(ro|rw))?$/.exec(v) as RegExpExecArray;
    path = m[1] as string;
    rw = m[2] === 'rw';
  } else if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o))
      if (k !== 'path' && k !== 'rw') throw bad(`binds.${i}`, `unknown key ${k} (path, rw)`);
    if (typeof o.path !== 'string') throw bad(`binds.${i}.path`, 'expected a string');
    if (o.rw !== undefined && typeof o.rw !== 'boolean') throw bad(`binds.${i}.rw`, 'expected true or false');
    path = o.path;
    rw = o.rw === true;
  } else throw bad(`binds.${i}`, 'expected a path ("/dir" or "/dir:rw") or { path, rw }');
  if (!path.startsWith('/') || path.split('/').includes('..'))
    throw bad(`binds.${i}`, `${JSON.stringify(path)} is not an absolute path`);
  if (path === '/') throw bad(`binds.${i}`, '"/" would expose the whole runner');
  return { path, rw };
}

/**
 * Parses `sandbox_config.sandbox` (absent: every default).
 * @example parseNestedSandbox({ runtime: 'gvisor', memory: '1Gi' }).limits.memoryBytes === 2 ** 30
 */
export function parseNestedSandbox(raw: unknown): NestedSandbox {
  const o = raw ?? {};
  if (typeof o !== 'object' || Array.isArray(o))
    throw new InvalidRequest(
      'sandbox_config.sandbox: expected a mapping (runtime, network, binds, memory, cpus, pids)',
    );
  const r = o as Record<string, unknown>;
  for (const k of Object.keys(r)) if (!KEYS.includes(k)) throw bad(k, `unknown key (expected ${KEYS.join(', ')})`);
  const runtime = r.runtime ?? 'auto';
  if (!RUNTIMES.includes(runtime as NestedRuntime))
    throw bad('runtime', `${JSON.stringify(runtime)} is not auto, gvisor or bubblewrap`);
  const network = r.network ?? 'none';
  if (network !== 'none' && network !== 'host')
    throw bad('network', `${JSON.stringify(network)} is not none or host (egress lists are network.egress)`);
  if (r.binds !== undefined && !Array.isArray(r.binds)) throw bad('binds', 'expected a list of paths');
  const binds = ((r.binds as unknown[] | undefined) ?? []).map(parseBind);
  const quantity = (key: string, min: number, integer: boolean): number | null => {
    const v = r[key];
    if (v === undefined || v === null) return null;
    const n = typeof v === 'number' ? v : typeof v === 'string' ? parseQuantity(v) : null;
    if (n === null || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n)))
      throw bad(
        key,
        `${JSON.stringify(v)} is not a ${integer ? 'whole ' : ''}number ≥ ${min}${key === 'memory' ? ' (e.g. 512Mi, 2Gi)' : ''}`,
      );
    return n;
  };
  return {
    runtime: runtime as NestedRuntime,
    network,
    binds,
    limits: {
      memoryBytes: quantity('memory', 16 * 1024 * 1024, true),
      cpus: quantity('cpus', 0.01, false),
      pids: quantity('pids', 8, true),
    },
  };
}

/** Whether a runner that reported `reported` in hello (null: it never said) can make a `runtime` sandbox. */
export function runnerHasRuntime(runtime: NestedRuntime, reported: readonly string[] | null | undefined): boolean {
  if (!reported) return false;
  return runtime === 'auto' ? reported.length > 0 : reported.includes(runtime);
}

/**
 * For a pool whose runners join (pool, external) with a nested sandbox: the runners that may take
 * its sessions (those reporting `runtime`), and the `missing_requirement` detail when runners
 * joined but none has it (null while some has it, or none joined yet: one with it may still come).
 * @example nestedRunners('gvisor', [{ sandboxRuntimes: ['bubblewrap'] }]).missing // 'sandbox runtime gvisor ...'
 */
export function nestedRunners<R extends { sandboxRuntimes: readonly string[] | null }>(
  runtime: NestedRuntime,
  runners: readonly R[],
): { runners: R[]; missing: string | null } {
  const fit = runners.filter((r) => runnerHasRuntime(runtime, r.sandboxRuntimes));
  if (fit.length > 0 || runners.length === 0) return { runners: fit, missing: null };
  const seen = [...new Set(runners.flatMap((r) => r.sandboxRuntimes ?? []))];
  const what = runtime === 'auto' ? 'sandbox runtime auto' : `sandbox runtime ${runtime}`;
  return {
    runners: fit,
    missing: `${what} (sandbox_mode: runner-creates-sandbox): none of the pool's ${runners.length} live runner(s) reports it (they report: ${seen.length ? seen.join(', ') : 'none'}); install it on a runner (${runtime === 'gvisor' ? 'runsc' : runtime === 'bubblewrap' ? 'bwrap' : 'bwrap or runsc'}) or change sandbox.runtime`,
  };
}

/**
 * The egress side of a pool with a nested sandbox: the agent enforces every policy itself, per
 * task (none: no network; open: the runner's network; an allow list: its egress proxy), so the
 * pool can take any policy whatever its provider class says; with no `network.egress` its policy
 * is `sandbox.network`'s (none: `none`, host: `open`).
 */
export function nestedEgressCaps(s: Pick<NestedSandbox, 'network'>): EgressCapabilities {
  return { supportsCustomNetworkPolicy: true, egressDefault: s.network === 'host' ? 'allow-all' : 'deny-all' };
}

/** What a task's nested sandbox gets on the network (the assignment's `sandbox.network`). */
export type NestedNetwork = 'none' | 'host' | { allow: string[] };

/**
 * A task's nested network: the pool's `network.egress` (else `sandbox.network`), narrowed by the
 * session's. A session that would widen it (placement refuses those; the pool may have changed
 * since) gets no network and the refusal.
 * @example nestedNetwork({ network: 'host' }, null, { allow: ['*.github.com'] }) // { network: { allow: ['*.github.com'] }, refusal: null }
 */
export function nestedNetwork(
  s: Pick<NestedSandbox, 'network'>,
  poolOwn: EgressPolicy | null | undefined,
  session: EgressPolicy | null | undefined,
): { network: NestedNetwork; refusal: string | null } {
  const r = narrowEgress(poolEgress(poolOwn, nestedEgressCaps(s)), session);
  if (r.refusal !== undefined) return { network: 'none', refusal: r.refusal };
  const p = r.policy;
  return { network: p === 'open' ? 'host' : p === 'none' ? 'none' : { allow: [...p.allow] }, refusal: null };
}
