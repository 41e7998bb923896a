/**
 * @module The stand-in's ResourceQuota admission: a pod whose requests or limits (or count) would
 * take its namespace past a quota's `hard` is refused with the API server's wording
 * (`exceeded quota: NAME, requested: ..., used: ..., limited: ...`), which the Job controller
 * turns into a `FailedCreate` event. Counts pods that have not ended. Test support only.
 */
import type { KubeApiServer } from './api.js';

// biome-ignore lint/suspicious/noExplicitAny: the stand-in walks untyped API objects as the server receives them
type Any = Record<string, any>;

/** A quantity (`500m`, `2`, `2Gi`, `512Mi`, `1G`) in millis (cpu) or bytes (memory). */
export function parseQuantity(q: string | number, cpu: boolean): number {
  const s = String(q);
  const m = /^(\d+(?:\.\d+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/.exec(s);
  if (!m) throw new Error(`bad quantity ${s}`);
  const n = Number(m[1]);
  const unit = m[2] ?? '';
  const mult: Record<string, number> = {
    '': 1,
    m: 0.001,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    P: 1e15,
    E: 1e18,
    Ki: 1024,
    Mi: 1024 ** 2,
    Gi: 1024 ** 3,
    Ti: 1024 ** 4,
    Pi: 1024 ** 5,
    Ei: 1024 ** 6,
  };
  const v = n * mult[unit]!;
  return cpu ? Math.round(v * 1000) : Math.round(v);
}

/** What a pod spec asks for, per quota key (cpu in millis, memory in bytes). */
function usage(spec: Any): Record<string, number> {
  const u: Record<string, number> = {
    pods: 1,
    'requests.cpu': 0,
    'requests.memory': 0,
    'limits.cpu': 0,
    'limits.memory': 0,
  };
  for (const c of (spec.containers ?? []) as Any[]) {
    const req = c.resources?.requests ?? c.resources?.limits ?? {};
    const lim = c.resources?.limits ?? {};
    if (req.cpu !== undefined) u['requests.cpu']! += parseQuantity(req.cpu, true);
    if (req.memory !== undefined) u['requests.memory']! += parseQuantity(req.memory, false);
    if (lim.cpu !== undefined) u['limits.cpu']! += parseQuantity(lim.cpu, true);
    if (lim.memory !== undefined) u['limits.memory']! += parseQuantity(lim.memory, false);
  }
  return u;
}

const show = (key: string, v: number) => (key.endsWith('cpu') ? `${v}m` : String(v));

/** Why a new pod `name` with `spec` is refused in `ns`, or null when every quota admits it. */
export function quotaRefusal(api: KubeApiServer, ns: string, name: string, spec: Any): string | null {
  const want = usage(spec);
  const used: Record<string, number> = {};
  for (const p of api.list('Pod', ns)) {
    if (['Succeeded', 'Failed'].includes((p.status as Any)?.phase)) continue;
    for (const [k, v] of Object.entries(usage(p.spec as Any))) used[k] = (used[k] ?? 0) + v;
  }
  for (const q of api.list('ResourceQuota', ns)) {
    const hard = ((q.spec as Any)?.hard ?? {}) as Record<string, string>;
    const over = Object.entries(hard)
      .map(([raw, limit]) => {
        const key = raw === 'cpu' || raw === 'memory' ? `requests.${raw}` : raw;
        const max = key === 'pods' ? Number(limit) : parseQuantity(limit, key.endsWith('cpu'));
        return { raw, key, max };
      })
      .filter(({ key, max }) => want[key] !== undefined && (used[key] ?? 0) + want[key]! > max);
    if (over.length)
      return `pods "${name}" is forbidden: exceeded quota: ${q.metadata.name}, requested: ${over
        .map((o) => `${o.raw}=${show(o.key, want[o.key]!)}`)
        .join(',')}, used: ${over.map((o) => `${o.raw}=${show(o.key, used[o.key] ?? 0)}`).join(',')}, limited: ${over
        .map((o) => `${o.raw}=${hardOf(q, o.raw)}`)
        .join(',')}`;
  }
  return null;
}

function hardOf(q: Any, key: string): string {
  return String(q.spec?.hard?.[key]);
}
