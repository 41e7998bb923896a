/**
 * @module The egress ledger: counts the connections egress proxies refused, per session and per
 * pool, and reports them (a warning in the server log and an `egress_denied` session event, so
 * `mctl sessions events <id>` and `GET /v1/sessions/:id/events` show the host and the counts).
 * Reports are throttled per session and host (the first at once, then at most one per
 * `throttleMs` carrying the counts so far), so a task retrying a denied host in a loop cannot
 * flood the store; the counts themselves are exact.
 */
import type { EgressDenial } from './proxy.js';

/** Who a proxy serves. */
export interface EgressOwner {
  orgId: string;
  sessionId: string | null;
  poolId: string;
  runnerId: string;
}

/** One report: the denial, with the session's and the pool's totals so far. */
export interface EgressReport {
  owner: EgressOwner;
  host: string;
  port: number;
  method: string;
  /** Refusals of this session (or of this runner, without a session) so far. */
  sessionDenied: number;
  /** Refusals of this host for this session so far. */
  hostDenied: number;
  /** Refusals in this pool so far (since this server started). */
  poolDenied: number;
}

export class EgressLedger {
  private readonly bySession = new Map<string, number>();
  private readonly byPool = new Map<string, number>();
  private readonly byHost = new Map<string, { count: number; reportedAt: number }>();

  constructor(
    private readonly report: (r: EgressReport) => void,
    private readonly throttleMs = 5_000,
  ) {}

  /**
   * Counts `count` refusals (one, or a batch a runner's proxy reported) and reports them unless
   * this session and host were reported within `throttleMs`.
   */
  denied(owner: EgressOwner, d: EgressDenial, count = 1): void {
    const key = owner.sessionId ?? `runner:${owner.runnerId}`;
    const sessionDenied = (this.bySession.get(key) ?? 0) + count;
    this.bySession.set(key, sessionDenied);
    const poolDenied = (this.byPool.get(owner.poolId) ?? 0) + count;
    this.byPool.set(owner.poolId, poolDenied);
    const hk = `${key}\n${d.host}`;
    const h = this.byHost.get(hk) ?? { count: 0, reportedAt: Number.NEGATIVE_INFINITY };
    h.count += count;
    this.byHost.set(hk, h);
    if (d.at - h.reportedAt < this.throttleMs) return;
    h.reportedAt = d.at;
    this.report({
      owner,
      host: d.host,
      port: d.port,
      method: d.method,
      sessionDenied,
      hostDenied: h.count,
      poolDenied,
    });
  }

  /** Refusals of a session so far. */
  sessionDenied(sessionId: string): number {
    return this.bySession.get(sessionId) ?? 0;
  }

  /** Refusals in a pool so far. */
  poolDenied(poolId: string): number {
    return this.byPool.get(poolId) ?? 0;
  }
}
