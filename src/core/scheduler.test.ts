/** @module Tests for the placement decision: each verdict reason, ordering and ties, the auth-mode pin. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CAPS, CLASSES } from './provider-classes.test-support.js';
import {
  compilePool,
  decide,
  type PlacementRequest,
  type PoolCandidate,
  type RunnerView,
  summarizeUnplaceable,
} from './scheduler.js';
import { parseSelector } from './selector.js';
import type { AuthMode, Pool, PoolVerdict, RequirementKind, RuntimeKind } from './types.js';

const compile = (p: Pool) => compilePool(p, CLASSES[p.providerId]);

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

function cand(p: Pool, over: Partial<Omit<PoolCandidate, 'pool'>> = {}): PoolCandidate {
  return {
    pool: compile(p),
    capabilities: CLASSES[p.providerId] ? CAPS : undefined,
    providerUnavailable: null,
    runners: [],
    providerLiveRunners: 0,
    ...over,
  };
}

function runner(id: string, over: Partial<RunnerView> = {}): RunnerView {
  return { id, state: 'idle', labels: {}, sessionId: null, ...over };
}

function req(over: Partial<PlacementRequest> = {}): PlacementRequest {
  return { orgId: 'org-1', agent: { name: 'shell', runtimes: [], requires: [] }, authMode: 'byok', ...over };
}

function agent(runtimes: RuntimeKind[], requires: RequirementKind[] = []): PlacementRequest['agent'] {
  return { name: 'claude', runtimes: runtimes.map((kind) => ({ kind })), requires: requires.map((kind) => ({ kind })) };
}

function only(v: PoolVerdict[]): PoolVerdict {
  expect(v).toHaveLength(1);
  return v[0] as PoolVerdict;
}

describe('decide: each reason in isolation', () => {
  it('places on a plain eligible pool by provisioning', () => {
    const d = decide(req(), [cand(pool({ name: 'a' }))]);
    expect(d.chosen).toEqual({
      poolId: 'pool-a',
      poolName: 'a',
      providerId: 'docker',
      action: 'provision',
      runnerId: null,
      runtime: null,
    });
    expect(only(d.verdicts)).toEqual({
      poolId: 'pool-a',
      poolName: 'a',
      providerId: 'docker',
      priority: 0,
      reason: null,
      detail: 'priority 0, no idle runner, provisioning one (0/10 runners live)',
      chosen: true,
    });
  });

  it('inactive', () => {
    const d = decide(req(), [cand(pool({ name: 'a', active: false }))]);
    expect(d.chosen).toBeNull();
    expect(only(d.verdicts)).toMatchObject({ reason: 'inactive', detail: 'pool is inactive', chosen: false });
  });

  it('org_mismatch', () => {
    const d = decide(req(), [cand(pool({ name: 'a', orgId: 'org-2' }))]);
    expect(only(d.verdicts)).toMatchObject({ reason: 'org_mismatch', detail: 'pool belongs to another org' });
  });

  it('pool_mismatch by name, and the requested pool is matched by name or id', () => {
    const cs = [cand(pool({ name: 'a' })), cand(pool({ name: 'b' }))];
    const d = decide(req({ poolName: 'b' }), cs);
    expect(d.chosen?.poolName).toBe('b');
    expect(d.verdicts[0]).toMatchObject({ reason: 'pool_mismatch', detail: 'not the requested pool b' });
    expect(decide(req({ poolName: 'pool-a' }), cs).chosen?.poolName).toBe('a');
  });

  it('provider_mismatch for an explicit provider', () => {
    const d = decide(req({ providerId: 'e2b' }), [cand(pool({ name: 'a' }))]);
    expect(only(d.verdicts)).toMatchObject({
      reason: 'provider_mismatch',
      detail: 'requested provider e2b; pool uses docker',
    });
  });

  it('provider_unavailable for a provider that is not configured here', () => {
    const d = decide(req(), [cand(pool({ name: 'a', providerId: 'acme' }), { capabilities: undefined })]);
    expect(only(d.verdicts)).toMatchObject({
      reason: 'provider_unavailable',
      detail: 'provider acme is not configured on this server',
    });
  });

  it('auth_mode_pin', () => {
    const d = decide(req({ authMode: 'host-session' }), [cand(pool({ name: 'a' }))]);
    expect(only(d.verdicts)).toMatchObject({
      reason: 'auth_mode_pin',
      detail: 'auth mode host-session runs only on providerId=local pools; pool uses docker',
    });
  });

  it('missing_runtime names the agent runtimes and the capability source', () => {
    const d = decide(req({ agent: agent(['host-binary', 'python-pip']) }), [cand(pool({ name: 'a' }))]);
    expect(only(d.verdicts)).toMatchObject({
      reason: 'missing_runtime',
      detail: 'agent claude runs as host-binary or python-pip; pool provides none of them (class default for docker)',
    });
  });

  it('runtimes are tried in order: the first provided one is used', () => {
    const d = decide(req({ agent: agent(['host-binary', 'npm', 'native']) }), [cand(pool({ name: 'a' }))]);
    expect(d.chosen?.runtime).toBe('npm');
    expect(only(d.verdicts).detail).toContain('runtime npm');
  });

  it('missing_requirement with the class default note', () => {
    const d = decide(req({ agent: agent([], ['git', 'gpu']) }), [cand(pool({ name: 'a' }))]);
    expect(only(d.verdicts)).toMatchObject({
      reason: 'missing_requirement',
      detail: 'requires gpu; pool does not provide it (class default for docker)',
    });
  });

  it('missing_requirement with the override note, listing every missing kind', () => {
    const p = pool({ name: 'a', runtimeProvides: { runtimeKinds: ['native'], requirementKinds: ['git'] } });
    const d = decide(req({ agent: agent([], ['gpu', 'git', 'toolchain:cuda']) }), [cand(p)]);
    expect(only(d.verdicts)).toMatchObject({
      reason: 'missing_requirement',
      detail: 'requires gpu, toolchain:cuda; pool does not provide them (runtime_provides override)',
    });
  });

  it('an override providing gpu makes the pool eligible', () => {
    const p = pool({ name: 'a', runtimeProvides: { runtimeKinds: ['native'], requirementKinds: ['gpu'] } });
    expect(decide(req({ agent: agent(['native'], ['gpu']) }), [cand(p)]).chosen?.poolName).toBe('a');
  });

  it('unknown provider with no override provides nothing', () => {
    const p = pool({ name: 'a', providerId: 'acme' });
    const d = decide(req({ agent: agent([], ['git']) }), [cand(p, { capabilities: CAPS })]);
    expect(only(d.verdicts).detail).toBe(
      'requires git; pool does not provide it (unknown provider acme: no class default)',
    );
  });

  it('selector_mismatch on a managed pool names the key', () => {
    const p = pool({ name: 'a', labels: { gpu: 'nvidia', vram: '8GB' } });
    const d = decide(req({ selector: parseSelector('gpu=nvidia,vram>=16GB') }), [cand(p)]);
    expect(only(d.verdicts)).toMatchObject({
      reason: 'selector_mismatch',
      detail: 'vram=8GB does not satisfy vram>=16GB',
    });
  });

  it('provider_unavailable carries the provider message', () => {
    const d = decide(req(), [
      cand(pool({ name: 'a' }), { providerUnavailable: 'Docker Engine unreachable at /var/run/docker.sock' }),
    ]);
    expect(only(d.verdicts)).toMatchObject({
      reason: 'provider_unavailable',
      detail: 'provider docker unavailable: Docker Engine unreachable at /var/run/docker.sock',
    });
  });

  it('at_capacity on max_runners when no runner is idle', () => {
    const runners = [runner('r1', { state: 'busy' }), runner('r2', { sessionId: 's-9' })];
    const d = decide(req(), [cand(pool({ name: 'a', maxRunners: 2 }), { runners })]);
    expect(only(d.verdicts)).toMatchObject({
      reason: 'at_capacity',
      detail: '2/2 runners live, none idle (max_runners 2)',
    });
  });

  it('at max_runners an idle unbound runner is still assigned', () => {
    const runners = [runner('r1', { state: 'busy' }), runner('r2')];
    const d = decide(req(), [cand(pool({ name: 'a', maxRunners: 2 }), { runners })]);
    expect(d.chosen).toMatchObject({ action: 'assign', runnerId: 'r2' });
    expect(only(d.verdicts).detail).toBe('priority 0, 1 idle runner, assigning r2');
  });

  it("at_capacity on the provider's maxConcurrent", () => {
    const caps = { ...CAPS, maxConcurrent: 20 };
    const d = decide(req(), [
      cand(pool({ name: 'a', providerId: 'e2b', maxRunners: null }), { capabilities: caps, providerLiveRunners: 20 }),
    ]);
    expect(only(d.verdicts)).toMatchObject({
      reason: 'at_capacity',
      detail: 'provider e2b at maxConcurrent: 20/20 runners live across pools',
    });
    const under = decide(req(), [
      cand(pool({ name: 'a', providerId: 'e2b', maxRunners: null }), { capabilities: caps, providerLiveRunners: 19 }),
    ]);
    expect(under.chosen?.action).toBe('provision');
  });
});

describe('decide: check order (first failure wins)', () => {
  it('reports the earliest failing check, fixing one cause at a time', () => {
    let p = pool({
      name: 'a',
      active: false,
      orgId: 'org-2',
      providerId: 'docker',
      labels: { vram: '8GB' },
      maxRunners: 1,
      runtimeProvides: { runtimeKinds: ['native'], requirementKinds: [] },
    });
    let r = req({
      poolName: 'b',
      providerId: 'e2b',
      authMode: 'local',
      agent: agent(['npm'], ['gpu']),
      selector: parseSelector('vram>=16GB'),
    });
    const steps: [Partial<Pool>, Partial<PlacementRequest>, string | null][] = [
      [{}, {}, 'inactive'],
      [{ active: true }, {}, 'org_mismatch'],
      [{ orgId: 'org-1' }, {}, 'pool_mismatch'],
      [{ name: 'b', id: 'pool-b' }, {}, 'provider_mismatch'],
      [{ providerId: 'e2b' }, {}, 'auth_mode_pin'],
      [{ providerId: 'local' }, { providerId: 'local' }, 'missing_runtime'],
      [{ runtimeProvides: { runtimeKinds: ['native', 'npm'], requirementKinds: [] } }, {}, 'missing_requirement'],
      [{ runtimeProvides: { runtimeKinds: ['npm'], requirementKinds: ['gpu'] } }, {}, 'selector_mismatch'],
      [{ labels: { vram: '32GB' } }, {}, 'provider_unavailable'],
      [{}, { authMode: 'byok' }, 'provider_unavailable'],
    ];
    for (const [poolFix, reqFix, reason] of steps) {
      p = { ...p, ...poolFix };
      r = { ...r, ...reqFix };
      const c = cand(p, { providerUnavailable: 'down', runners: [runner('r1', { state: 'busy' })] });
      expect(only(decide(r, [c]).verdicts).reason, JSON.stringify(poolFix)).toBe(reason);
    }
    const busy = cand(p, { runners: [runner('r1', { state: 'busy' })] });
    expect(only(decide(r, [busy]).verdicts).reason).toBe('at_capacity');
    const room = cand({ ...p, maxRunners: 2 }, { runners: [runner('r1', { state: 'busy' })] });
    expect(decide(r, [room]).chosen).toMatchObject({ action: 'provision', runtime: 'npm' });
  });
});

describe('decide: pool and external pools', () => {
  const macos = pool({ name: 'macos', mode: 'pool', providerId: 'pool', labels: { os: 'darwin' }, maxRunners: 1 });

  it('match if any live runner matches (runner labels add to the pool labels)', () => {
    const runners = [
      runner('r1', { labels: { arch: 'x86_64' }, state: 'busy' }),
      runner('r2', { labels: { arch: 'arm64' } }),
    ];
    const d = decide(req({ selector: parseSelector('os=darwin,arch=arm64') }), [cand(macos, { runners })]);
    expect(d.chosen).toMatchObject({ action: 'assign', runnerId: 'r2' });
  });

  it('a matching but busy runner makes the pool eligible; the session waits', () => {
    const runners = [
      runner('r1', { labels: { arch: 'arm64' }, state: 'busy' }),
      runner('r2', { labels: { arch: 'x86_64' } }),
    ];
    const d = decide(req({ selector: parseSelector('arch=arm64') }), [cand(macos, { runners })]);
    expect(d.chosen).toMatchObject({ action: 'wait', runnerId: null });
    expect(only(d.verdicts).detail).toBe(
      'priority 0, no idle matching runner, waiting for one to join (2 live runners)',
    );
  });

  it('fail the selector when no runner matches, naming the first runner', () => {
    const runners = [runner('r1', { labels: { arch: 'x86_64' } }), runner('r2', { labels: { arch: 'x86_64' } })];
    const d = decide(req({ selector: parseSelector('arch=arm64') }), [cand(macos, { runners })]);
    expect(only(d.verdicts)).toMatchObject({
      reason: 'selector_mismatch',
      detail: 'arch=x86_64 does not satisfy arch=arm64 (runner r1; none of 2 live runners match)',
    });
  });

  it("a runner's label never overrides its pool's: pool labels win (a pool-A runner cannot pose as pool B)", () => {
    const teamA = pool({ name: 'team-a', mode: 'pool', providerId: 'pool', labels: { team: 'a' } });
    const runners = [runner('r1', { labels: { team: 'b', arch: 'arm64' } })];
    for (const selector of ['team=b', 'team=b,arch=arm64', 'team in (b)']) {
      const d = decide(req({ selector: parseSelector(selector) }), [cand(teamA, { runners })]);
      expect(d.chosen).toBeNull();
      expect(only(d.verdicts)).toMatchObject({ reason: 'selector_mismatch' });
      expect(only(d.verdicts).detail).toContain('team=a');
    }
    expect(decide(req({ selector: parseSelector('team=a') }), [cand(teamA, { runners })]).chosen).toBeTruthy();
  });

  it('match on pool labels alone when no runner is live', () => {
    expect(decide(req({ selector: parseSelector('os=darwin') }), [cand(macos)]).chosen?.action).toBe('wait');
    expect(only(decide(req({ selector: parseSelector('os=linux') }), [cand(macos)]).verdicts)).toMatchObject({
      reason: 'selector_mismatch',
      detail: 'os=darwin does not satisfy os=linux',
    });
  });

  it('never fail on capacity', () => {
    const runners = [runner('r1', { state: 'busy' }), runner('r2', { state: 'busy' })];
    const d = decide(req(), [cand(macos, { runners, providerLiveRunners: 999 })]);
    expect(d.chosen).toMatchObject({ action: 'wait' });
    const ext = pool({ name: 'ext', mode: 'external', providerId: 'external' });
    expect(decide(req(), [cand(ext, { runners })]).chosen).toMatchObject({ action: 'wait', poolName: 'ext' });
  });
});

describe('decide: ordering and ties', () => {
  it('highest priority wins; the other gets lower_priority saying why', () => {
    const d = decide(req(), [cand(pool({ name: 'low', priority: 1 })), cand(pool({ name: 'high', priority: 10 }))]);
    expect(d.chosen?.poolName).toBe('high');
    expect(d.verdicts[0]).toMatchObject({
      reason: 'lower_priority',
      detail: 'eligible, but pool high won on priority (10 > 1)',
      chosen: false,
    });
    expect(d.verdicts[1]?.detail).toBe(
      'priority 10, no idle runner, provisioning one (0/10 runners live); chosen over 1 other eligible pool',
    );
  });

  it("then the profile's provider preference, listed providers first in list order", () => {
    const cs = [
      cand(pool({ name: 'k', providerId: 'kubernetes' })),
      cand(pool({ name: 'e', providerId: 'e2b' })),
      cand(pool({ name: 'd', providerId: 'docker' })),
    ];
    const profile = {
      name: 'p',
      description: '',
      selector: null,
      resources: {},
      providerPreference: ['e2b', 'docker'],
    };
    const d = decide(req({ profile }), cs);
    expect(d.chosen?.poolName).toBe('e');
    expect(d.verdicts[0]?.detail).toBe(
      "eligible, but pool e won on the profile's provider preference (e2b is #1, kubernetes is not listed)",
    );
    expect(d.verdicts[2]?.detail).toBe(
      "eligible, but pool e won on the profile's provider preference (e2b is #1, docker is #2)",
    );
  });

  it('then most free capacity (null max_runners is unlimited; pools count idle matching runners)', () => {
    const d = decide(req(), [
      cand(pool({ name: 'a', maxRunners: 5 }), { runners: [runner('r1', { state: 'busy' })] }),
      cand(pool({ name: 'b', maxRunners: null })),
      cand(pool({ name: 'c', maxRunners: 8 })),
    ]);
    expect(d.chosen?.poolName).toBe('b');
    expect(d.verdicts[0]?.detail).toBe('eligible, but pool b won on free capacity (unlimited > 4) at equal priority 0');
    const pools = decide(req(), [
      cand(pool({ name: 'p1', mode: 'pool', providerId: 'pool' }), { runners: [runner('a1')] }),
      cand(pool({ name: 'p2', mode: 'pool', providerId: 'pool' }), { runners: [runner('b1'), runner('b2')] }),
    ]);
    expect(pools.chosen).toMatchObject({ poolName: 'p2', action: 'assign', runnerId: 'b1' });
  });

  it('a ready idle runner beats a pool that would have to provision one, whatever the free capacity', () => {
    // `warm` has 1 free slot and an idle runner; `empty` has unlimited room but nothing running.
    const warm = cand(pool({ name: 'warm', maxRunners: 2 }), { runners: [runner('r1')] });
    const empty = cand(pool({ name: 'empty', maxRunners: null }));
    for (const cs of [
      [warm, empty],
      [empty, warm],
    ]) {
      const d = decide(req(), cs);
      expect(d.chosen).toMatchObject({ poolName: 'warm', action: 'assign', runnerId: 'r1' });
      expect(d.verdicts.find((v) => v.poolName === 'empty')?.detail).toBe(
        'eligible, but pool warm won on a ready idle runner (empty has none idle and would have to provision one) at equal priority 0',
      );
    }
    // Against a join-only pool that has room but no idle runner, too.
    const joined = cand(pool({ name: 'joined', mode: 'pool', providerId: 'pool' }), {
      runners: [runner('j1', { state: 'busy' })],
    });
    expect(decide(req(), [joined, warm]).chosen?.poolName).toBe('warm');
    // A bound idle runner is not ready: it belongs to another session.
    const held = cand(pool({ name: 'held', maxRunners: 2 }), { runners: [runner('r2', { sessionId: 'ses-1' })] });
    expect(decide(req(), [held, empty]).chosen).toMatchObject({ poolName: 'empty', action: 'provision' });
    // Priority still comes first.
    const high = cand(pool({ name: 'high', priority: 5, maxRunners: null }));
    expect(decide(req(), [warm, high]).chosen?.poolName).toBe('high');
  });

  it('then name ascending, independent of candidate order', () => {
    const a = cand(pool({ name: 'alpha' }));
    const b = cand(pool({ name: 'beta' }));
    expect(decide(req(), [b, a]).chosen?.poolName).toBe('alpha');
    expect(decide(req(), [a, b]).chosen?.poolName).toBe('alpha');
    expect(decide(req(), [b, a]).verdicts[0]?.detail).toBe(
      'eligible, but pool alpha won the tie on name (alpha before beta) at equal priority and free capacity',
    );
  });

  it('the winner does not depend on candidate order (property)', () => {
    const arb = fc.array(
      fc.record({
        priority: fc.integer({ min: 0, max: 3 }),
        providerId: fc.constantFrom('docker', 'e2b', 'local'),
        maxRunners: fc.option(fc.integer({ min: 1, max: 4 }), { nil: null }),
        live: fc.integer({ min: 0, max: 4 }),
      }),
      { minLength: 1, maxLength: 8 },
    );
    fc.assert(
      fc.property(arb, fc.infiniteStream(fc.double()), (specs, noise) => {
        const cs = specs.map((s, i) =>
          cand(pool({ name: `p${i}`, priority: s.priority, providerId: s.providerId, maxRunners: s.maxRunners }), {
            runners: Array.from({ length: s.live }, (_, k) => runner(`r${i}-${k}`, { state: 'busy' })),
          }),
        );
        const shuffled = cs
          .map((c) => [noise.next().value as number, c] as const)
          .sort((x, y) => x[0] - y[0])
          .map(([, c]) => c);
        const a = decide(req(), cs);
        const b = decide(req(), shuffled);
        expect(b.chosen).toEqual(a.chosen);
        expect(a.verdicts.filter((v) => v.chosen).length).toBe(a.chosen === null ? 0 : 1);
      }),
    );
  });
});

describe('decide: auth-mode pin', () => {
  it('local and host-session never yield a non-local pool (property)', () => {
    const providers = ['local', 'docker', 'kubernetes', 'e2b', 'daytona', 'modal', 'vercel', 'pool'];
    fc.assert(
      fc.property(
        fc.array(fc.record({ providerId: fc.constantFrom(...providers), priority: fc.integer({ min: 0, max: 5 }) }), {
          minLength: 1,
          maxLength: 10,
        }),
        fc.constantFrom<AuthMode>('local', 'host-session', 'byok', 'metered', 'shared'),
        (specs, authMode) => {
          const cs = specs.map((s, i) => cand(pool({ name: `p${i}`, ...s })));
          const d = decide(req({ authMode }), cs);
          const pinned = authMode === 'local' || authMode === 'host-session';
          if (pinned) {
            expect(d.chosen === null || d.chosen.providerId === 'local').toBe(true);
            for (const v of d.verdicts) if (v.providerId !== 'local') expect(v.reason).toBe('auth_mode_pin');
          }
          const hasLocal = specs.some((s) => s.providerId === 'local');
          expect(d.chosen !== null).toBe(pinned ? hasLocal : true);
        },
      ),
    );
  });
});

describe('acceptance: selector across two GPU pools', () => {
  it('gpu=nvidia,vram>=16GB picks the 24GB pool and explains the 8GB one', () => {
    const big = pool({ name: 'gpu-24', labels: { gpu: 'nvidia', vram: '24GB' } });
    const small = pool({ name: 'gpu-8', labels: { gpu: 'nvidia', vram: '8GB' } });
    const d = decide(req({ selector: parseSelector('gpu=nvidia,vram>=16GB') }), [cand(big), cand(small)]);
    expect(d.chosen).toMatchObject({ poolName: 'gpu-24', action: 'provision' });
    expect(d.verdicts[0]).toMatchObject({ poolName: 'gpu-24', chosen: true, reason: null });
    expect(d.verdicts[1]).toMatchObject({ poolName: 'gpu-8', chosen: false, reason: 'selector_mismatch' });
    expect(d.verdicts[1]?.detail).toContain('vram');
    expect(d.verdicts[1]?.detail).toBe('vram=8GB does not satisfy vram>=16GB');
  });

  it("the profile's selector is ANDed with the request's", () => {
    const big = pool({ name: 'gpu-24', labels: { gpu: 'nvidia', vram: '24GB' } });
    const profile = {
      name: 'gpu-large',
      description: '',
      selector: 'vram>=32GB',
      resources: {},
      providerPreference: [],
    };
    const d = decide(req({ selector: parseSelector('gpu=nvidia'), profile }), [cand(big)]);
    expect(d.chosen).toBeNull();
    expect(d.verdicts[0]?.detail).toBe('vram=24GB does not satisfy vram>=32GB');
  });
});

describe('decide: per-decision caches give the same answers as per-pool evaluation', () => {
  it('pools sharing labels and substrate still get their own verdicts', () => {
    const labels = { gpu: 'nvidia', vram: '8GB' };
    const cs = [
      cand(pool({ name: 'a', labels })),
      cand(pool({ name: 'b', labels: { ...labels } }), { providerUnavailable: 'down' }),
      cand(pool({ name: 'c', labels: { vram: '8GB', gpu: 'nvidia' }, active: false })),
      cand(pool({ name: 'd', labels: { gpu: 'nvidia', vram: '32GB' } })),
      cand(pool({ name: 'e', labels: { gpu: 'nvidia' }, mode: 'pool', providerId: 'pool', priority: 1 }), {
        runners: [runner('r1', { labels: { vram: '48GB' } })],
      }),
    ];
    const small = decide(req({ selector: parseSelector('vram>=16GB') }), cs);
    expect(small.verdicts.map((v) => [v.poolName, v.reason])).toEqual([
      ['a', 'selector_mismatch'],
      ['b', 'selector_mismatch'],
      ['c', 'inactive'],
      ['d', 'lower_priority'],
      ['e', null],
    ]);
    expect(small.chosen).toMatchObject({ poolName: 'e', action: 'assign', runnerId: 'r1' });
    const loose = decide(req({ selector: parseSelector('vram>=4GB') }), cs);
    expect(loose.verdicts.map((v) => v.reason)).toEqual([
      'lower_priority',
      'provider_unavailable',
      'inactive',
      'lower_priority',
      null,
    ]);
  });

  it('an agent that different substrates satisfy differently is checked per substrate', () => {
    const cs = [
      cand(pool({ name: 'd1' })),
      cand(pool({ name: 'e1', providerId: 'e2b' })),
      cand(pool({ name: 'd2' })),
      cand(
        pool({
          name: 'e2',
          providerId: 'e2b',
          runtimeProvides: { runtimeKinds: ['npm'], requirementKinds: ['toolchain:node'] },
        }),
      ),
    ];
    const d = decide(req({ agent: agent(['npm'], ['toolchain:node']) }), cs);
    expect(d.verdicts.map((v) => v.reason)).toEqual([null, 'missing_runtime', 'lower_priority', 'lower_priority']);
    expect(d.verdicts[1]?.detail).toBe('agent claude runs as npm; pool provides none of them (class default for e2b)');
  });
});

describe('compilePool', () => {
  it('derives capability sets and parses the pool selector once', () => {
    const cp = compile(pool({ name: 'a', selector: 'os=darwin', providerId: 'e2b' }));
    expect(cp.capabilitySource).toBe('class-default');
    expect(cp.requirementKinds.has('long-running')).toBe(true);
    expect(cp.requirementKinds.has('toolchain:node')).toBe(false);
    expect(cp.selector).toEqual(parseSelector('os=darwin'));
    expect(compile(pool({ name: 'b', selector: '  ' })).selector).toBeNull();
  });

  it('refuses a row with a bad selector', () => {
    expect(() => compile(pool({ name: 'a', selector: 'os=' }))).toThrow(
      /^selector: expected a value .* at column 4 in "os="$/,
    );
  });
});

describe('summarizeUnplaceable', () => {
  it('lists each pool with its reason and detail', () => {
    const d = decide(req({ selector: parseSelector('gpu=nvidia,vram>=16GB') }), [
      cand(pool({ name: 'gpu-8', labels: { gpu: 'nvidia', vram: '8GB' } })),
      cand(pool({ name: 'off', active: false })),
    ]);
    expect(d.chosen).toBeNull();
    expect(summarizeUnplaceable(d.verdicts)).toBe(
      'No eligible pool among 2 pools: gpu-8 (docker): selector_mismatch, vram=8GB does not satisfy vram>=16GB; off (docker): inactive, pool is inactive.',
    );
  });

  it('says when there are no pools at all', () => {
    expect(summarizeUnplaceable([])).toContain('there are no pools');
  });

  it('lists the first 20 and counts the rest by reason', () => {
    const cs = Array.from({ length: 25 }, (_, i) =>
      cand(pool({ name: `p${i}`, active: i >= 22, orgId: i >= 22 ? 'org-2' : 'org-1' })),
    );
    const text = summarizeUnplaceable(decide(req(), cs).verdicts);
    expect(text).toContain('p19 (docker): inactive');
    expect(text).not.toContain('p20 (docker)');
    expect(text).toContain('and 5 more (inactive ×2, org_mismatch ×3)');
  });
});
