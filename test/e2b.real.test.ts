/**
 * @module The e2b provider against the real E2B service, run only when
 * `MARIONETTE_TEST_E2B_API_KEY` is set (never in CI: no E2B there). It needs no gateway E2B can
 * reach: the sandbox's "agent" is a shell that exits, and the test checks the provider's own
 * calls on E2B: create with metadata, status, execCommand through envd, pause and resume with a
 * file kept, list by metadata, kill. `MARIONETTE_TEST_E2B_TEMPLATE` names the template (default
 * `base`, E2B's own).
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { makeSpec } from '../src/providers/docker/docker.test-support.js';
import { E2bSandboxProvider } from '../src/providers/e2b/provider.js';

const key = process.env.MARIONETTE_TEST_E2B_API_KEY;

describe.skipIf(!key)('e2b provider against the real E2B (MARIONETTE_TEST_E2B_API_KEY)', () => {
  it('provisions, runs a command, pauses and resumes with the file kept, lists and kills', async () => {
    const prefix = `t${randomBytes(4).toString('hex')}.mtest`;
    const p = new E2bSandboxProvider(
      {
        template: process.env.MARIONETTE_TEST_E2B_TEMPLATE ?? 'base',
        gateway: 'ws://127.0.0.1:9',
        agentCommand: 'true',
        workspace: '/home/user/workspace',
        sandboxTimeout: '5m',
        metadataPrefix: prefix,
      },
      { defaultApiKey: key!, installId: `ins_${prefix}` },
    );
    const spec = makeSpec();
    const h = await p.provision(spec);
    try {
      expect(await p.status(h)).toBe('running');
      expect((await p.execCommand(h, 'echo kept > kept.txt; pwd')).stdout.trim()).toBe('/home/user/workspace');
      await p.pause(h);
      expect(await p.status(h)).toBe('running');
      await p.unpause(h);
      expect((await p.execCommand(h, 'cat kept.txt')).stdout.trim()).toBe('kept');
      const listed = await p.list();
      expect(listed.find((o) => o.id === h.externalId)?.owner.runner).toBe(spec.runnerId);
    } finally {
      await p.terminate(h);
    }
    expect(await p.status(h)).toBe('terminated');
  }, 300_000);
});
