/** @module The scheduler's `egress_policy` verdict: widening refused, unenforceable policies refused, narrowing provisions fresh. */
import { describe, expect, it } from 'vitest';
import { parseEgressPolicy } from './egress.js';
import { nestedEgressCaps } from './nested-sandbox.js';
import { CAPS } from './provider-classes.test-support.js';
import { compilePool, decide, type PlacementRequest, type PoolCandidate } from './scheduler.js';
import type { Pool, SandboxProviderCapabilities } from './types.js';

function pool(over: Partial<Pool> & { name: string }): Pool {
  return {
    id: `pool-${over.name}`,
    orgId: 'org-1',
    mode: 'managed',
    providerId: 'docker',
    priority: 0,
    active: true,
    labels: {},
    minRunners: 0,
    maxRunners: 10,
    idleTimeoutMs: null,
    selector: null,
    runtimeProvides: { runtimeKinds: ['native'], requirementKinds: [] },
    sandboxConfig: {},
    lifecycle: 'per-session',
    sandboxMode: 'runner-is-sandbox',
    suspendConfig: { strategy: 'terminate', fallback: 'terminate', minDurationMs: 0, maxDurationMs: null },
    createdAt: 0,
    updatedAt: 0,
    ...over,
  };
}

const NO_POLICY: SandboxProviderCapabilities = { ...CAPS, supportsCustomNetworkPolicy: false };

function cand(p: Pool, caps: SandboxProviderCapabilities = CAPS, idle = false): PoolCandidate {
  return {
    pool: compilePool(p),
    capabilities: caps,
    providerUnavailable: null,
    runners: idle ? [{ id: 'r1', state: 'idle', labels: {}, sessionId: null }] : [],
    providerLiveRunners: 0,
  };
}

const req = (egress?: unknown): PlacementRequest => ({
  orgId: 'org-1',
  agent: { name: 'shell', runtimes: [], requires: [] },
  authMode: 'byok',
  ...(egress === undefined ? {} : { egress: parseEgressPolicy(egress) }),
});

describe('decide: egress_policy', () => {
  it('no policy anywhere: nothing checked, every pool eligible', () => {
    const d = decide(req(), [cand(pool({ name: 'a' }), NO_POLICY)]);
    expect(d.chosen?.poolName).toBe('a');
  });

  it('a session widening its pool’s policy gets the verdict, naming what it widens', () => {
    const p = pool({ name: 'a', egress: { allow: ['*.example.com'] } });
    const d = decide(req({ allow: ['api.example.com', 'other.org'] }), [cand(p)]);
    expect(d.chosen).toBeNull();
    expect(d.verdicts[0]).toMatchObject({
      reason: 'egress_policy',
      detail: expect.stringMatching(/asks for egress to other\.org; its pool allows allow \[\*\.example\.com\]/),
    });
    expect(decide(req('open'), [cand(p)]).verdicts[0]?.reason).toBe('egress_policy');
    expect(decide(req('open'), [cand(pool({ name: 'n', egress: 'none' }))]).verdicts[0]?.reason).toBe('egress_policy');
  });

  it('a provider that cannot enforce a policy: the verdict, not a silent pass; another pool takes it', () => {
    const local = pool({ name: 'local', providerId: 'local', priority: 10 });
    const dock = pool({ name: 'dock' });
    const d = decide(req('none'), [cand(local, NO_POLICY), cand(dock)]);
    expect(d.chosen?.poolName).toBe('dock');
    expect(d.verdicts[0]).toMatchObject({
      reason: 'egress_policy',
      detail: expect.stringMatching(/provider local cannot enforce egress none \(supportsCustomNetworkPolicy: false/),
    });
    // Its own default (open) it can: a session asking for exactly that is fine.
    expect(decide(req('open'), [cand(local, NO_POLICY)]).chosen?.poolName).toBe('local');
  });

  it('narrowing needs a fresh runner: an idle one (started with the pool’s policy) is not assigned', () => {
    const p = pool({ name: 'a' });
    expect(decide(req(), [cand(p, CAPS, true)]).chosen?.action).toBe('assign');
    expect(decide(req('open'), [cand(p, CAPS, true)]).chosen?.action).toBe('assign');
    expect(decide(req('none'), [cand(p, CAPS, true)]).chosen).toMatchObject({ action: 'provision', runnerId: null });
  });

  it('a pool whose runners join by themselves cannot narrow per session', () => {
    const p = pool({ name: 'machines', mode: 'pool', providerId: 'pool', egress: { allow: ['a.com', 'b.com'] } });
    const caps = { ...CAPS, supportsCustomNetworkPolicy: true };
    expect(decide(req({ allow: ['a.com', 'b.com'] }), [cand(p, caps)]).chosen?.poolName).toBe('machines');
    expect(decide(req({ allow: ['a.com'] }), [cand(p, caps)]).verdicts[0]).toMatchObject({
      reason: 'egress_policy',
      detail: expect.stringMatching(/runners join with its own .* cannot be narrowed per session/),
    });
  });

  it('a nested sandbox enforces per task: its pool takes policies its provider class cannot, and any runner takes a narrowing', () => {
    const caps = nestedEgressCaps({ network: 'none' });
    const machines = pool({
      name: 'machines',
      mode: 'pool',
      providerId: 'pool',
      egress: { allow: ['a.com', 'b.com'] },
    });
    const nested = (p: Pool): PoolCandidate => ({ ...cand(p, NO_POLICY, true), nestedEgress: caps });
    expect(decide(req({ allow: ['a.com'] }), [nested(machines)]).chosen).toMatchObject({
      action: 'assign',
      runnerId: 'r1',
    });
    expect(decide(req('none'), [nested(machines)]).chosen?.action).toBe('assign');
    expect(decide(req({ allow: ['c.com'] }), [nested(machines)]).verdicts[0]?.reason).toBe('egress_policy');
    // No network.egress: sandbox.network none is the pool's policy, so open or a list would widen it.
    const local = pool({ name: 'local', providerId: 'local' });
    expect(decide(req('none'), [nested(local)]).chosen?.action).toBe('assign');
    expect(decide(req({ allow: ['a.com'] }), [nested(local)]).verdicts[0]).toMatchObject({
      reason: 'egress_policy',
      detail: expect.stringMatching(/its pool allows none/),
    });
    const hostnet = { ...cand(local, NO_POLICY, true), nestedEgress: nestedEgressCaps({ network: 'host' }) };
    expect(decide(req({ allow: ['a.com'] }), [hostnet]).chosen?.action).toBe('assign');
  });
});
