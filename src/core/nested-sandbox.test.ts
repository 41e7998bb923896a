import { describe, expect, it } from 'vitest';
import { nestedEgressCaps, nestedNetwork, nestedRunners, runnerHasRuntime } from './nested-sandbox.js';

describe('nested sandbox runtimes of runners that join', () => {
  const gv = { id: 'a', sandboxRuntimes: ['gvisor', 'bubblewrap'] };
  const bw = { id: 'b', sandboxRuntimes: ['bubblewrap'] };
  const none = { id: 'c', sandboxRuntimes: [] };
  const old = { id: 'd', sandboxRuntimes: null };

  it('a runner has a runtime only when it reported it (auto: any; an older agent that never said: none)', () => {
    expect(runnerHasRuntime('gvisor', gv.sandboxRuntimes)).toBe(true);
    expect(runnerHasRuntime('gvisor', bw.sandboxRuntimes)).toBe(false);
    expect(runnerHasRuntime('auto', bw.sandboxRuntimes)).toBe(true);
    expect(runnerHasRuntime('auto', none.sandboxRuntimes)).toBe(false);
    expect(runnerHasRuntime('bubblewrap', old.sandboxRuntimes)).toBe(false);
  });

  it('keeps the runners that have it; names the runtime when runners joined but none has it', () => {
    expect(nestedRunners('gvisor', [bw, gv, old])).toEqual({ runners: [gv], missing: null });
    const miss = nestedRunners('gvisor', [bw, none, old]);
    expect(miss.runners).toEqual([]);
    expect(miss.missing).toMatch(
      /^sandbox runtime gvisor .*none of the pool's 3 live runner\(s\) reports it \(they report: bubblewrap\)/,
    );
    expect(nestedRunners('auto', [none]).missing).toMatch(/sandbox runtime auto .*they report: none/);
    // No runner yet: one with the runtime may still join.
    expect(nestedRunners('gvisor', [])).toEqual({ runners: [], missing: null });
  });

  it('a task network: the pool policy, else sandbox.network, narrowed by the session; a widening gets none', () => {
    expect(nestedNetwork({ network: 'none' }, null, null)).toEqual({ network: 'none', refusal: null });
    expect(nestedNetwork({ network: 'host' }, null, null)).toEqual({ network: 'host', refusal: null });
    expect(nestedNetwork({ network: 'none' }, 'open', null)).toEqual({ network: 'host', refusal: null });
    expect(nestedNetwork({ network: 'host' }, { allow: ['a.com', 'b.com'] }, { allow: ['b.com'] })).toEqual({
      network: { allow: ['b.com'] },
      refusal: null,
    });
    expect(nestedNetwork({ network: 'host' }, { allow: ['a.com'] }, 'none').network).toBe('none');
    const wide = nestedNetwork({ network: 'host' }, { allow: ['a.com'] }, 'open');
    expect(wide.network).toBe('none');
    expect(wide.refusal).toMatch(/never widen/);
    expect(nestedEgressCaps({ network: 'none' })).toEqual({
      supportsCustomNetworkPolicy: true,
      egressDefault: 'deny-all',
    });
  });
});
