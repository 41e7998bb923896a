/**
 * What the scheduler is asked for a session (placementRequest): the profile's selector reaches
 * the decision once. It used to be merged into the request's selector here and again by the
 * scheduler (which ANDs the profile's selector itself), so every profile term was checked twice.
 */
import { describe, expect, it } from 'vitest';
import { makeCtx } from '../core/decision-context.js';
import type { AgentCard, Profile } from '../core/types.js';
import type { SessionRequest } from '../store/records.js';
import { placementRequest } from './placement.js';

const card = { name: 'shell', runtimes: [{ kind: 'native' }], requires: [] } as unknown as AgentCard;
const profile: Profile = {
  name: 'gpu-large',
  description: '',
  selector: 'gpu=nvidia,vram>=16GB',
  resources: {},
  providerPreference: [],
};
const request = (selector: string | null): SessionRequest => ({
  agent: 'shell',
  prompt: null,
  provider: null,
  pool: null,
  selector,
  profile: 'gpu-large',
  authMode: 'byok',
  env: {},
});

describe('placementRequest', () => {
  it("puts each of the profile's selector terms once into the decision, after the request's own", () => {
    const ctx = makeCtx(placementRequest('org_1', request('os=linux'), card, profile));
    expect(ctx.termText).toEqual(['os=linux', 'gpu=nvidia', 'vram>=16GB']);
  });

  it('a request without a selector of its own gets the profile selector once', () => {
    const ctx = makeCtx(placementRequest('org_1', request(null), card, profile));
    expect(ctx.termText).toEqual(['gpu=nvidia', 'vram>=16GB']);
  });
});
