import { describe, expect, it } from 'vitest';
import type { ApiPrincipal } from '../store/repos/auth.js';
import { LINK_TTL_MS, LoginLinks } from './login-links.js';

const who = {
  tokenId: 'tok_1',
  name: 'ann',
  role: 'member',
  orgId: 'org_1',
  projectId: null,
} as unknown as ApiPrincipal;

describe('LoginLinks', () => {
  it('takes a code once, within its time', () => {
    const links = new LoginLinks();
    const { code, expiresAt } = links.create(who, 1000);
    expect(expiresAt).toBe(1000 + LINK_TTL_MS);
    expect(links.take(code, 2000)).toEqual({ orgId: 'org_1', projectId: null, role: 'member', name: 'ann' });
    expect(() => links.take(code, 2000)).toThrow(/already used/);
  });

  it('refuses an expired code, saying so, and a code with a wrong secret', () => {
    const links = new LoginLinks();
    const { code } = links.create(who, 0);
    expect(() => links.take(code, LINK_TTL_MS)).toThrow(/expired/);
    const other = links.create(who, 0).code;
    const forged = `${other.slice(0, 17)}${'x'.repeat(32)}`;
    expect(() => links.take(forged, 1)).toThrow(/already used/);
    // The forged attempt did not use up the real code.
    expect(links.take(other, 1).name).toBe('ann');
  });

  it('keeps at most 1000 codes, forgetting the oldest', () => {
    const links = new LoginLinks();
    const first = links.create(who, 0).code;
    for (let i = 0; i < 1000; i++) links.create(who, 0);
    expect(() => links.take(first, 1)).toThrow(/already used/);
  });
});
