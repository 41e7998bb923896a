/**
 * @module The `credential_missing` verdict: a pool whose provider needs a credential the org lacks
 * gets it (with the detail the server gives: the variable and the command), after the substrate and
 * selector checks and a provider not built here, before an unreachable backend, and never wins;
 * other pools still place.
 */
import { describe, expect, it } from 'vitest';
import { CAPS, CLASSES } from './provider-classes.test-support.js';
import { compilePool, decide, type PlacementRequest, type PoolCandidate } from './scheduler.js';
import { parseSelector } from './selector.js';
import type { Pool } from './types.js';

const DETAIL =
  'provider e2b needs a credential and this org has none: run `mctl credentials set e2b --from-env E2B_API_KEY`, or set E2B_API_KEY';

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
    runtimeProvides: null,
    sandboxConfig: {},
    lifecycle: 'per-session',
    sandboxMode: 'runner-is-sandbox',
    suspendConfig: { strategy: 'terminate', fallback: 'terminate', minDurationMs: 0, maxDurationMs: null },
    createdAt: 0,
    updatedAt: 0,
    ...over,
  };
}

const cand = (p: Pool, over: Partial<Omit<PoolCandidate, 'pool'>> = {}): PoolCandidate => ({
  pool: compilePool(p, CLASSES[p.providerId]),
  capabilities: CLASSES[p.providerId] ? CAPS : undefined,
  providerUnavailable: null,
  runners: [],
  providerLiveRunners: 0,
  ...over,
});

const req = (over: Partial<PlacementRequest> = {}): PlacementRequest => ({
  orgId: 'org-1',
  agent: { name: 'shell', runtimes: [], requires: [] },
  authMode: 'byok',
  ...over,
});

describe('credential_missing', () => {
  it('is the verdict of a pool whose provider lacks a credential, with the server’s detail; another pool wins', () => {
    const d = decide(req(), [
      cand(pool({ name: 'cloud', priority: 10 }), { credentialMissing: DETAIL }),
      cand(pool({ name: 'home' })),
    ]);
    expect(d.chosen?.poolName).toBe('home');
    expect(d.verdicts[0]).toMatchObject({
      poolName: 'cloud',
      reason: 'credential_missing',
      detail: DETAIL,
      chosen: false,
    });
  });

  it('comes after the selector and a provider not built here, before an unreachable backend', () => {
    const both = decide(req(), [
      cand(pool({ name: 'a' }), { credentialMissing: DETAIL, providerUnavailable: 'backend down' }),
    ]);
    expect(both.verdicts[0]?.reason).toBe('credential_missing');
    expect(both.chosen).toBeNull();
    const unbuilt = decide(req(), [cand(pool({ name: 'a' }), { credentialMissing: DETAIL, capabilities: undefined })]);
    expect(unbuilt.verdicts[0]?.reason).toBe('provider_unavailable');
    const sel = decide(req({ selector: parseSelector('gpu=nvidia') }), [
      cand(pool({ name: 'a' }), { credentialMissing: DETAIL }),
    ]);
    expect(sel.verdicts[0]?.reason).toBe('selector_mismatch');
  });

  it('is no verdict when the credential is there (null or absent)', () => {
    expect(decide(req(), [cand(pool({ name: 'a' }), { credentialMissing: null })]).chosen?.poolName).toBe('a');
    expect(decide(req(), [cand(pool({ name: 'a' }))]).chosen?.poolName).toBe('a');
  });
});
