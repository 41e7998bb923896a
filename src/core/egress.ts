/**
 * @module The egress policy model (pure): what a sandbox may reach on the network.
 *
 * A policy is `none` (no network at all), `open` (whatever the provider gives: its
 * `egressDefault`), or `{ allow: [...] }`: only the listed destinations, each a host pattern
 * (`api.example.com`, `*.example.com` for any subdomain) or an IP / CIDR (`10.0.0.0/8`,
 * `2001:db8::/32`, `192.0.2.7`). Host patterns match the host name a client asks the egress proxy
 * for; CIDRs match IP literals the client asks for (a name is never resolved to match a CIDR, so a
 * DNS answer cannot widen the list).
 *
 * A pool has a policy (`network.egress`, default: its provider's `egressDefault`); a session may
 * narrow it, never widen it ({@link narrowEgress}). Whether a pool can enforce a policy at all is
 * its provider class's `supportsCustomNetworkPolicy` ({@link egressRefusal}): the scheduler turns a
 * refusal into the `egress_policy` verdict. Each provider compiles the effective policy to its own
 * control (docker: `NetworkMode: none`, or none plus the egress proxy; see docs/egress.md).
 */
import { InvalidRequest } from './errors.js';

/** The two capability-matrix fields the egress model reads (a `SandboxProviderCapabilities` fits). */
export interface EgressCapabilities {
  egressDefault: 'allow-all' | 'deny-all';
  supportsCustomNetworkPolicy: boolean;
}

/** The canonical form, the same in config, API and store: `'none'`, `'open'` or `{ allow }`. */
export type EgressPolicy = 'none' | 'open' | { allow: string[] };

/** One parsed allow-list entry. */
export type EgressRule =
  | { kind: 'host'; pattern: string; wildcard: boolean; base: string }
  | { kind: 'cidr'; text: string; family: 4 | 6; bits: bigint; prefix: number };

const LABEL = '[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?';
const HOST_RE = new RegExp(`^(\\*\\.)?${LABEL}(\\.${LABEL})*$`);

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  return JSON.stringify(v) ?? String(v);
}

/** IPv4 dotted quad to a 32-bit bigint, or null. */
function ipv4(s: string): bigint | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  let v = 0n;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255 || (p.length > 1 && p.startsWith('0'))) return null;
    v = (v << 8n) | BigInt(Number(p));
  }
  return v;
}

/** IPv6 text (with `::` and an optional trailing IPv4) to a 128-bit bigint, or null. */
function ipv6(s: string): bigint | null {
  if (!/^[0-9a-f:.]+$/i.test(s) || s.split('::').length > 2) return null;
  const expand = (part: string): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    const groups = part.split(':');
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i] as string;
      if (i === groups.length - 1 && g.includes('.')) {
        const v4 = ipv4(g);
        if (v4 === null) return null;
        out.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
      } else if (/^[0-9a-f]{1,4}$/i.test(g)) out.push(Number.parseInt(g, 16));
      else return null;
    }
    return out;
  };
  const [head, tail] = s.split('::') as [string, string | undefined];
  const h = expand(head);
  const t = tail === undefined ? [] : expand(tail);
  if (h === null || t === null) return null;
  const missing = 8 - h.length - t.length;
  if ((tail === undefined && missing !== 0) || (tail !== undefined && missing < 1)) return null;
  const all = [...h, ...new Array<number>(tail === undefined ? 0 : missing).fill(0), ...t];
  return all.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

/** An IP literal (IPv6 may come in brackets, as in a URL host) as family and bits, or null. */
export function parseIp(host: string): { family: 4 | 6; bits: bigint } | null {
  const h = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const v4 = ipv4(h);
  if (v4 !== null) return { family: 4, bits: v4 };
  if (!h.includes(':')) return null;
  const v6 = ipv6(h);
  return v6 === null ? null : { family: 6, bits: v6 };
}

function mask(family: 4 | 6, prefix: number): bigint {
  const width = family === 4 ? 32 : 128;
  return prefix === 0 ? 0n : ((1n << BigInt(prefix)) - 1n) << BigInt(width - prefix);
}

/**
 * Parses one allow-list entry; throws InvalidRequest naming `where` and what is wrong.
 * @example parseEgressRule('*.example.com', 'allow[0]') // { kind: 'host', wildcard: true, base: 'example.com', ... }
 */
export function parseEgressRule(entry: unknown, where: string): EgressRule {
  if (typeof entry !== 'string' || entry.trim() === '')
    throw new InvalidRequest(`${where}: expected a host pattern or a CIDR, got ${describe(entry)}`);
  const e = entry.trim().toLowerCase();
  const looksIp = /^[\d.]+(\/\d*)?$/.test(e) || e.includes(':');
  if (looksIp || e.includes('/')) {
    const [addr, len, extra] = e.split('/') as [string, string | undefined, string | undefined];
    const ip = parseIp(addr);
    if (ip === null || extra !== undefined)
      throw new InvalidRequest(
        `${where}: ${describe(entry)} is not an IP address or CIDR (e.g. 10.0.0.0/8, 2001:db8::/32; a host pattern takes no port)`,
      );
    const width = ip.family === 4 ? 32 : 128;
    const prefix = len === undefined ? width : /^\d{1,3}$/.test(len) ? Number(len) : Number.NaN;
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > width)
      throw new InvalidRequest(
        `${where}: ${describe(entry)} is not a CIDR: the prefix length must be 0-${width} for IPv${ip.family}`,
      );
    const bits = ip.bits & mask(ip.family, prefix);
    if (bits !== ip.bits)
      throw new InvalidRequest(
        `${where}: ${describe(entry)} has host bits set past /${prefix}; write the network address`,
      );
    return { kind: 'cidr', text: `${addr}/${prefix}`, family: ip.family, bits, prefix };
  }
  if (e.length > 253 || !HOST_RE.test(e))
    throw new InvalidRequest(
      `${where}: ${describe(entry)} is not a host pattern (a host name like api.example.com, or *.example.com for its subdomains; no scheme, port or path)`,
    );
  const wildcard = e.startsWith('*.');
  return { kind: 'host', pattern: e, wildcard, base: wildcard ? e.slice(2) : e };
}

/**
 * Validates a policy from config or the API: `none`, `open` or `{ allow: [entries] }`. Entries are
 * lowercased and deduplicated. Throws InvalidRequest naming `field` and the bad part.
 * @example parseEgressPolicy({ allow: ['*.github.com', '10.0.0.0/8'] }, 'network.egress')
 */
export function parseEgressPolicy(input: unknown, field = 'network.egress'): EgressPolicy {
  if (input === 'none' || input === 'open') return input;
  if (input !== null && typeof input === 'object' && !Array.isArray(input)) {
    const obj = input as Record<string, unknown>;
    const extra = Object.keys(obj).filter((k) => k !== 'allow');
    if (extra.length > 0) throw new InvalidRequest(`${field}.${extra[0]}: unknown field (expected only allow)`);
    if (!Array.isArray(obj.allow))
      throw new InvalidRequest(
        `${field}.allow: expected a list of host patterns and CIDRs, got ${describe(obj.allow)}`,
      );
    const out: string[] = [];
    obj.allow.forEach((entry: unknown, i) => {
      const r = parseEgressRule(entry, `${field}.allow[${i}]`);
      const text = r.kind === 'host' ? r.pattern : r.text;
      if (!out.includes(text)) out.push(text);
    });
    return { allow: out };
  }
  throw new InvalidRequest(
    `${field}: expected none, open, or { allow: [host patterns, CIDRs] }, got ${describe(input)}`,
  );
}

/** The parsed rules of a policy (none for `none` and `open`). Entries were validated on the way in. */
export function egressRules(policy: EgressPolicy): EgressRule[] {
  if (typeof policy === 'string') return [];
  return policy.allow.map((e, i) => parseEgressRule(e, `allow[${i}]`));
}

function hostMatches(rule: Extract<EgressRule, { kind: 'host' }>, host: string): boolean {
  return rule.wildcard ? host.endsWith(`.${rule.base}`) : host === rule.pattern;
}

/**
 * Whether a connection to `host` (a name or an IP literal, as the client asked for it) is allowed.
 * Names match host patterns only, IP literals CIDRs only.
 * @example egressAllows({ allow: ['*.example.com'] }, 'api.example.com') // true
 */
export function egressAllows(policy: EgressPolicy | readonly EgressRule[], host: string): boolean {
  if (policy === 'open') return true;
  if (policy === 'none') return false;
  const rules = Array.isArray(policy) ? policy : egressRules(policy as { allow: string[] });
  const h = host.toLowerCase().replace(/\.$/, '');
  const ip = parseIp(h);
  for (const r of rules) {
    if (r.kind === 'cidr') {
      if (ip !== null && ip.family === r.family && (ip.bits & mask(r.family, r.prefix)) === r.bits) return true;
    } else if (ip === null && hostMatches(r, h)) return true;
  }
  return false;
}

/** Whether pool rule `outer` admits everything session rule `inner` admits. */
function covers(outer: EgressRule, inner: EgressRule): boolean {
  if (outer.kind === 'cidr' && inner.kind === 'cidr')
    return (
      outer.family === inner.family &&
      outer.prefix <= inner.prefix &&
      (inner.bits & mask(outer.family, outer.prefix)) === outer.bits
    );
  if (outer.kind === 'host' && inner.kind === 'host') {
    if (!outer.wildcard) return !inner.wildcard && inner.pattern === outer.pattern;
    return inner.base === outer.base ? inner.wildcard : inner.base.endsWith(`.${outer.base}`);
  }
  return false;
}

export function formatEgress(policy: EgressPolicy): string {
  return typeof policy === 'string' ? policy : `allow [${policy.allow.join(', ')}]`;
}

/** A pool's policy: its own `network.egress`, else what its provider gives by default. */
export function poolEgress(
  own: EgressPolicy | null | undefined,
  caps: Pick<EgressCapabilities, 'egressDefault'> | undefined,
): EgressPolicy {
  if (own !== null && own !== undefined) return own;
  return caps?.egressDefault === 'deny-all' ? 'none' : 'open';
}

/**
 * The session's effective policy under its pool's: the pool's when the session asks for nothing,
 * the session's when it is as narrow or narrower, else a refusal saying what it would widen.
 * @example narrowEgress('open', 'none') // { policy: 'none' }
 * @example narrowEgress({ allow: ['a.com'] }, 'open') // { refusal: 'the session asks for egress open; ...' }
 */
export function narrowEgress(
  pool: EgressPolicy,
  session: EgressPolicy | null | undefined,
): { policy: EgressPolicy; refusal?: undefined } | { refusal: string; policy?: undefined } {
  if (session === null || session === undefined || pool === 'open' || session === 'none')
    return { policy: session ?? pool };
  const refuse = (what: string) => ({
    refusal: `the session asks for egress ${what}; its pool allows ${formatEgress(pool)} (a session may narrow its pool's egress, never widen it)`,
  });
  if (pool === 'none' || session === 'open') return refuse(formatEgress(session));
  const outer = egressRules(pool);
  const wider = egressRules(session).filter((r) => !outer.some((o) => covers(o, r)));
  if (wider.length > 0) return refuse(`to ${wider.map((r) => (r.kind === 'host' ? r.pattern : r.text)).join(', ')}`);
  return { policy: session };
}

/**
 * Null when a pool of a provider with `caps` can enforce `policy`, else why not. The provider's own
 * default (`open` for allow-all, `none` for deny-all) needs nothing; anything else needs
 * `supportsCustomNetworkPolicy`. `caps` undefined (provider not configured) is judged elsewhere.
 */
export function egressRefusal(
  policy: EgressPolicy,
  caps: EgressCapabilities | undefined,
  providerId: string,
): string | null {
  if (caps === undefined || caps.supportsCustomNetworkPolicy) return null;
  const native = caps.egressDefault === 'deny-all' ? 'none' : 'open';
  if (policy === native) return null;
  return `provider ${providerId} cannot enforce egress ${formatEgress(policy)} (supportsCustomNetworkPolicy: false; its sandboxes get egress ${native})`;
}

/**
 * The scheduler's egress check for one pool: null when the pool can run the session under the
 * session's policy, else the `egress_policy` verdict's detail.
 */
export function egressMiss(
  poolOwn: EgressPolicy | null | undefined,
  session: EgressPolicy | null | undefined,
  caps: EgressCapabilities | undefined,
  providerId: string,
): string | null {
  if ((session === null || session === undefined) && (poolOwn === null || poolOwn === undefined)) return null;
  const narrowed = narrowEgress(poolEgress(poolOwn, caps), session);
  if (narrowed.refusal !== undefined) return narrowed.refusal;
  return egressRefusal(narrowed.policy, caps, providerId);
}

/**
 * The scheduler's egress step for one pool: `miss` is the `egress_policy` verdict's detail (null:
 * the pool can take the session), `freshRunner` says the session's policy is narrower than the
 * pool's, so only a runner provisioned for it will do (an idle runner was started with the pool's).
 * Pools whose runners join by themselves (`managed` false) cannot narrow per session.
 */
export function egressPlacement(
  poolOwn: EgressPolicy | null | undefined,
  session: EgressPolicy | null | undefined,
  caps: EgressCapabilities | undefined,
  providerId: string,
  managed: boolean,
): { miss: string | null; freshRunner: boolean } {
  const miss = egressMiss(poolOwn, session, caps, providerId);
  if (miss !== null || session === null || session === undefined) return { miss, freshRunner: false };
  const base = poolEgress(poolOwn, caps);
  if (JSON.stringify(base) === JSON.stringify(session)) return { miss: null, freshRunner: false };
  if (!managed)
    return {
      miss: `the session narrows egress to ${formatEgress(session)}, but this pool's runners join with its own (${formatEgress(base)}) and cannot be narrowed per session`,
      freshRunner: false,
    };
  return { miss: null, freshRunner: true };
}

/** The policy a session's sandbox gets in a pool (undefined: neither sets one, the provider's default). */
export function effectiveEgress(
  poolOwn: EgressPolicy | null | undefined,
  session: EgressPolicy | null | undefined,
  caps: EgressCapabilities | undefined,
): EgressPolicy | undefined {
  if ((poolOwn === null || poolOwn === undefined) && (session === null || session === undefined)) return undefined;
  const r = narrowEgress(poolEgress(poolOwn, caps), session);
  if (r.refusal !== undefined) throw new InvalidRequest(`network.egress: ${r.refusal}`);
  return r.policy;
}
