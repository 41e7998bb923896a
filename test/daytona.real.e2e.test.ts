/**
 * @module The daytona provider against the real Daytona service, run only when
 * MARIONETTE_TEST_DAYTONA_API_KEY is set (with MARIONETTE_TEST_DAYTONA_API_URL and
 * MARIONETTE_TEST_DAYTONA_SNAPSHOT when not the defaults; the snapshot is the one
 * docs/providers/daytona.md builds). It checks what needs no gateway reachable from the cloud:
 * provision, a command through the toolbox, stop and start with the workspace intact, terminate.
 * Skipped (with its reason printed) otherwise; CI has no Daytona account.
 */
import { describe, expect, it } from 'vitest';
import { DaytonaSandboxProvider } from '../src/providers/daytona/provider.js';
import { makeSpec } from '../src/providers/docker/docker.test-support.js';
import { REAL_DAYTONA_KEY } from './daytona.support.js';

const run = REAL_DAYTONA_KEY ? describe : describe.skip;
if (!REAL_DAYTONA_KEY) console.warn('[daytona real-service test] skipped: MARIONETTE_TEST_DAYTONA_API_KEY is not set');

run('daytona provider against the real service', () => {
  it('provisions, runs a command, stops and starts with the workspace intact, terminates', async () => {
    const env: Record<string, string> = { DAYTONA_API_KEY: REAL_DAYTONA_KEY! };
    if (process.env.MARIONETTE_TEST_DAYTONA_API_URL) env.DAYTONA_API_URL = process.env.MARIONETTE_TEST_DAYTONA_API_URL;
    const p = new DaytonaSandboxProvider(
      {
        // The agent may not reach this address from the cloud; this test does not need it to.
        gateway: process.env.MARIONETTE_TEST_DAYTONA_GATEWAY ?? 'ws://127.0.0.1:9',
        snapshot: process.env.MARIONETTE_TEST_DAYTONA_SNAPSHOT ?? 'marionette-agent',
        labelPrefix: 'io.marionette.realtest',
        startTimeout: '300s',
      },
      { env },
    );
    expect(await p.health()).toEqual({ ok: true });
    const spec = makeSpec();
    const h = await p.provision(spec);
    try {
      expect(await p.status(h)).toBe('running');
      expect((await p.execCommand(h, 'echo real > /workspace/r.txt && cat /workspace/r.txt')).stdout.trim()).toBe(
        'real',
      );
      await p.stopPreserveStorage(h);
      expect(await p.status(h)).toBe('terminated');
      const r = await p.restore(h, makeSpec({ orgId: spec.orgId, sessionId: spec.sessionId }));
      expect((await p.execCommand(r, 'cat /workspace/r.txt')).stdout.trim()).toBe('real');
      await p.terminate(r);
    } finally {
      await p.destroyStorage(h).catch(() => {});
      await p.close();
    }
  }, 900_000);
});
