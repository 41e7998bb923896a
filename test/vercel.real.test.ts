/**
 * @module The vercel provider against the real Vercel Sandbox service, run only when
 * `MARIONETTE_TEST_VERCEL_TOKEN` is set (never in CI: no Vercel there), with
 * `MARIONETTE_TEST_VERCEL_TEAM_ID` and `MARIONETTE_TEST_VERCEL_PROJECT_ID` (unless the token is an
 * OIDC token naming them). It needs no gateway Vercel can reach: the sandbox's "agent" is a command
 * that exits, and the test checks the provider's own calls on Vercel: create with tags, status,
 * execCommand, list by name prefix and tags, snapshot and restore with a file kept, delete.
 * `MARIONETTE_TEST_VERCEL_IMAGE` names the image (default: Vercel's default image).
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { makeSpec } from '../src/providers/docker/docker.test-support.js';
import { VercelSandboxProvider } from '../src/providers/vercel/provider.js';

const token = process.env.MARIONETTE_TEST_VERCEL_TOKEN;
const why = token ? '' : ' (skipped: MARIONETTE_TEST_VERCEL_TOKEN is not set)';

describe.skipIf(!token)(`vercel provider against the real Vercel Sandbox${why}`, () => {
  it('provisions, runs a command, lists, snapshots and restores with the file kept, and deletes', async () => {
    const prefix = `mtest-${randomBytes(4).toString('hex')}`;
    const p = new VercelSandboxProvider(
      {
        image: process.env.MARIONETTE_TEST_VERCEL_IMAGE ?? 'vercel/sandbox/universal',
        gateway: 'ws://127.0.0.1:9',
        agentCommand: 'true',
        sandboxTimeout: '10m',
        namePrefix: prefix,
      },
      {
        installId: `ins_${prefix}`,
        credential: {
          token: token!,
          teamId: process.env.MARIONETTE_TEST_VERCEL_TEAM_ID,
          projectId: process.env.MARIONETTE_TEST_VERCEL_PROJECT_ID,
        },
      },
    );
    const spec = makeSpec();
    let h = await p.provision(spec);
    try {
      expect(await p.status(h)).toBe('running');
      expect((await p.execCommand(h, 'echo kept > kept.txt; pwd')).stdout.trim()).toBe('/vercel/sandbox');
      const listed = await p.list();
      expect(listed.find((o) => o.id === h.externalId)?.owner.runner).toBe(spec.runnerId);
      h = await p.snapshot(h);
      expect(await p.status(h)).toBe('terminated');
      h = await p.restore(h, makeSpec({ orgId: spec.orgId, sessionId: spec.sessionId }));
      expect((await p.execCommand(h, 'cat kept.txt')).stdout.trim()).toBe('kept');
    } finally {
      await p.terminate(h);
    }
    expect(await p.status(h)).toBe('terminated');
  }, 600_000);
});
