import { describe, expect, it } from 'vitest';
import { loadAgentConfig } from './agent.js';

/**
 * `MARIONETTE_SERVER` is mctl's API URL; the agent's gateway is `MARIONETTE_GATEWAY`. Exporting
 * one for mctl must not break an agent on the same machine.
 */
describe("marionette-agent's gateway address from the environment", () => {
  it('reads MARIONETTE_GATEWAY, and ignores mctl’s MARIONETTE_SERVER URL next to it', () => {
    const c = loadAgentConfig(
      {},
      { MARIONETTE_SERVER: 'http://127.0.0.1:8080', MARIONETTE_GATEWAY: 'unix:/run/gw.sock' },
    );
    expect(c.server).toBe('unix:/run/gw.sock');
    expect(c.notes).toBeUndefined();
  });

  it('refuses to take mctl’s API URL for the gateway, saying which variable to set', () => {
    expect(() => loadAgentConfig({}, { MARIONETTE_SERVER: 'http://127.0.0.1:8080' })).toThrow(/no server given/);
    let err: unknown = null;
    try {
      loadAgentConfig({}, { MARIONETTE_SERVER: 'https://api.example:8080' });
    } catch (e) {
      err = e;
    }
    expect((err as { hint?: string } | null)?.hint).toMatch(
      /MARIONETTE_GATEWAY.*MARIONETTE_SERVER=https:\/\/api\.example:8080 is mctl's API URL/,
    );
  });

  it('still reads a gateway address in MARIONETTE_SERVER, with a deprecation note', () => {
    const c = loadAgentConfig({}, { MARIONETTE_SERVER: '127.0.0.1:9090' });
    expect(c.server).toBe('127.0.0.1:9090');
    expect(c.notes).toEqual([expect.stringMatching(/MARIONETTE_SERVER is deprecated.*MARIONETTE_GATEWAY/)]);
  });

  it('a --server flag wins over both', () => {
    const c = loadAgentConfig(
      { server: 'unix:/flag.sock' },
      { MARIONETTE_SERVER: 'h:1', MARIONETTE_GATEWAY: 'unix:/env.sock' },
    );
    expect(c.server).toBe('unix:/flag.sock');
    expect(c.notes).toBeUndefined();
  });
});
