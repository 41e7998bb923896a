/**
 * A pool's `network.egress` through the config file and the API: set, changed, cleared; a
 * removed `network` in marionette.yaml goes back to the provider's default at the next start; a bad
 * policy in the file stops the server naming it. (No session runs: nothing but loopback is used.)
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type ServerHandle, startServer } from './harness.js';

const withPolicy = `pools:
  d:
    provider: docker
    network:
      egress:
        allow: [A.example, "*.b.example", 10.0.0.0/8]
`;
const without = `pools:
  d:
    provider: docker
`;

describe('a pool’s egress policy in config and API', () => {
  let srv: ServerHandle;
  afterAll(async () => srv?.destroy());

  it('is set from the file, changed and cleared by the API, and follows the file at the next start', async () => {
    srv = await startServer({ config: withPolicy });
    const egressOf = async () => (await srv.api<{ egress: unknown }>('GET', '/v1/pools/d')).body.egress;
    expect(await egressOf()).toEqual({ allow: ['a.example', '*.b.example', '10.0.0.0/8'] });
    expect((await srv.api('PATCH', '/v1/pools/d', { network: { egress: 'none' } })).status).toBe(200);
    expect(await egressOf()).toBe('none');
    const bad = await srv.api<{ detail: string }>('PATCH', '/v1/pools/d', { network: { egress: 'closed' } });
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toMatch(/network\.egress: expected none, open, or \{ allow/);
    expect(await egressOf()).toBe('none');
    expect((await srv.api('PATCH', '/v1/pools/d', { network: null })).status).toBe(200);
    expect(await egressOf()).toBeNull();
    // The file is the truth for its pools: back to the file's policy at a start, and gone when the file drops it.
    await srv.stop();
    srv = await startServer({ home: srv.home, config: withPolicy });
    expect(await egressOf()).toEqual({ allow: ['a.example', '*.b.example', '10.0.0.0/8'] });
    await srv.stop();
    srv = await startServer({ home: srv.home, config: without });
    expect(await egressOf()).toBeNull();
    await srv.stop();
    writeFileSync(join(srv.home, 'marionette.yaml'), '');
    await expect(
      startServer({
        home: srv.home,
        config: without.replace('provider: docker', 'provider: local\n    network: {egress: none}'),
      }),
    ).rejects.toThrow(/network\.egress: provider local cannot enforce egress none/);
  });
});
