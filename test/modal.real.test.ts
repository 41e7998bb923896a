/**
 * @module The modal provider against the real Modal service, run only when
 * MARIONETTE_TEST_MODAL_TOKEN_ID and MARIONETTE_TEST_MODAL_TOKEN_SECRET are set (with
 * MARIONETTE_TEST_MODAL_IMAGE naming the registry image docs/providers/modal.md builds, default
 * `marionette-agent:latest`, and MARIONETTE_TEST_MODAL_GATEWAY a gateway address reachable from
 * Modal, if any). It checks what needs no gateway reachable from the cloud: provision (the agent
 * keeps retrying its gateway), status, a filesystem snapshot and a sandbox restored from it,
 * listing by tags, terminate. Skipped (with its reason printed) otherwise; CI has no Modal account.
 */
import { describe, expect, it } from 'vitest';
import { makeSpec } from '../src/providers/docker/docker.test-support.js';
import { ModalSandboxProvider } from '../src/providers/modal/provider.js';

const tokenId = process.env.MARIONETTE_TEST_MODAL_TOKEN_ID;
const tokenSecret = process.env.MARIONETTE_TEST_MODAL_TOKEN_SECRET;
const REAL = Boolean(tokenId && tokenSecret);
const run = REAL ? describe : describe.skip;
if (!REAL)
  console.warn(
    '[modal real-service test] skipped: MARIONETTE_TEST_MODAL_TOKEN_ID and MARIONETTE_TEST_MODAL_TOKEN_SECRET are not set',
  );

run('modal provider against the real service', () => {
  it('provisions, lists by tags, snapshots the filesystem, restores from it, terminates', async () => {
    const p = new ModalSandboxProvider(
      {
        // The agent may not reach this address from the cloud; this test does not need it to.
        gateway: process.env.MARIONETTE_TEST_MODAL_GATEWAY ?? 'ws://127.0.0.1:9',
        image: process.env.MARIONETTE_TEST_MODAL_IMAGE ?? 'marionette-agent:latest',
        appName: 'marionette-realtest',
        tagPrefix: 'marionette-realtest',
        sandboxTimeout: '15m',
      },
      { env: { MODAL_TOKEN_ID: tokenId, MODAL_TOKEN_SECRET: tokenSecret } },
    );
    expect(await p.health()).toEqual({ ok: true });
    const spec = makeSpec();
    const h = await p.provision(spec);
    let restored: typeof h | null = null;
    try {
      expect(await p.status(h)).toBe('running');
      expect((await p.list()).map((o) => o.id)).toContain(h.externalId);
      const snap = await p.snapshot(h);
      expect(snap.metadata.snapshotImageId).toMatch(/^im-/);
      expect(await p.status(h)).toBe('terminated');
      restored = await p.restore(snap, makeSpec({ orgId: spec.orgId, sessionId: spec.sessionId }));
      expect(await p.status(restored)).toBe('running');
    } finally {
      if (restored) await p.terminate(restored).catch(() => {});
      await p.terminate(h).catch(() => {});
      await p.close();
    }
  }, 900_000);
});
