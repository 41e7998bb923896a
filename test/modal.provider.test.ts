/**
 * @module The modal provider's own behaviour against the Modal stand-in (the official `modal` SDK
 * talking gRPC to it): a sandbox per runner whose command is the agent, with owner tags; vendor
 * errors become errors naming Modal's message (a refused token, an image Modal cannot pull); a
 * rate limit (RESOURCE_EXHAUSTED) is retried with backoff and named when it never clears; a
 * provision that fails after the sandbox exists leaves no sandbox; a GPU request reaches Modal's
 * create request; the filesystem snapshot comes back on a new sandbox and its image is deleted
 * with the session's storage; orphans are listed and reaped by tags, of this install only.
 */
import { Status } from 'nice-grpc';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { dockerDescribe, makeSpec } from '../src/providers/docker/docker.test-support.js';
import { type ModalProviderOptions, ModalSandboxProvider } from '../src/providers/modal/provider.js';
import { tagKeys } from '../src/providers/modal/tags.js';
import type { SandboxHandle, SandboxSpec } from '../src/providers/types.js';
import { type ModalTarget, modalTarget } from './modal.support.js';

dockerDescribe('modal provider against the Modal stand-in', () => {
  let target: ModalTarget;
  const made: Array<{ p: ModalSandboxProvider; h: SandboxHandle }> = [];

  beforeAll(async () => {
    target = await modalTarget();
  }, 300_000);

  afterAll(async () => {
    for (const { p, h } of made) await p.terminate(h).catch(() => {});
    for (const { p } of made) await p.close();
    const left = (await target?.standin.running()) ?? [];
    await target?.close();
    expect(left.map((s) => s.id)).toEqual([]);
    expect((await target?.standin.leftovers()) ?? []).toEqual([]);
  }, 120_000);

  /** A provider whose runners dial a gateway nobody listens on (the agent keeps retrying; these tests need no server). */
  const make = (opts: ModalProviderOptions = {}, over: Record<string, unknown> = {}) =>
    new ModalSandboxProvider(target.config(1, over), {
      env: target.env,
      backoff: { baseMs: 10, maxMs: 50 },
      ...opts,
    });
  const spec = (over: Partial<SandboxSpec> = {}) => makeSpec({ config: {}, ...over });
  const provision = async (p: ModalSandboxProvider, s = spec()) => {
    const h = await p.provision(s);
    made.push({ p, h });
    return h;
  };
  const running = async () => (await target.standin.running()).length;

  it('provisions a sandbox whose command is the agent, tagged with its owners; terminate ends it', async () => {
    const p = make();
    const s = spec();
    const h = await provision(p, s);
    expect(await p.status(h)).toBe('running');
    const rec = target.standin.engine.sandboxes.get(h.externalId)!;
    const k = tagKeys(target.prefix);
    expect(rec.tags).toMatchObject({
      [k.managed]: 'true',
      [k.runner]: s.runnerId,
      [k.org]: s.orgId,
      [k.pool]: s.poolId,
    });
    // Without a GPU the SDK uses Modal's V2 sandboxes.
    expect(rec.family).toBe('v2');
    expect(rec.command.join(' ')).toContain('MARIONETTE_REGISTRATION_TOKEN=');
    expect(rec.command.join(' ')).toContain('/opt/marionette/bin/marionette-agent');
    expect(rec.timeoutSecs).toBe(86_400);
    const r = await target.sh(
      h,
      'ps -o args= -p 1,2 2>/dev/null || cat /proc/1/cmdline /proc/2/cmdline | tr "\\0" " "',
    );
    expect(r.stdout).toContain('marionette-agent');
    await p.terminate(h);
    expect(await p.status(h)).toBe('terminated');
    await p.terminate(h); // idempotent
  }, 120_000);

  it('a refused token is an error naming Modal and its message, never the secret, and starts nothing', async () => {
    const before = await running();
    const p = make({ env: { MODAL_TOKEN_ID: 'ak-wrong', MODAL_TOKEN_SECRET: 'as-very-secret-wrong' } });
    const err = (await p.provision(spec()).catch((e: Error) => e)) as Error;
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toContain('Modal refused the token (UNAUTHENTICATED)');
    expect(err.message).toContain('Token ID or secret is invalid (stand-in)');
    expect(err.message).not.toContain('as-very-secret-wrong');
    expect(await running()).toBe(before);
    await p.close();
  }, 60_000);

  it('no credential at all names the org and how to set one', async () => {
    const p = new ModalSandboxProvider(target.config(1), { resolveCredential: async () => null });
    await expect(p.provision(spec({ orgId: 'org-nokey' }))).rejects.toThrow(
      /no Modal credential for org org-nokey: set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET.*mctl credentials set modal/,
    );
  });

  it("an image Modal cannot pull names it and Modal's message, and starts nothing", async () => {
    const before = await running();
    const p = make({}, { image: 'no-such/image:1' });
    await expect(p.provision(spec())).rejects.toThrow(/no-such\/image:1.*pull access denied for no-such\/image:1/);
    expect(await running()).toBe(before);
    await p.close();
  }, 60_000);

  it('a rate limit is retried with backoff; one that never clears is named', async () => {
    const p = make();
    target.standin.fail('sandboxCreate', {
      code: Status.RESOURCE_EXHAUSTED,
      message: 'rate limit exceeded (stand-in)',
      times: 2,
    });
    const h = await provision(p);
    expect(await p.status(h)).toBe('running');
    await p.terminate(h);
    const before = await running();
    target.standin.fail('sandboxCreate', {
      code: Status.RESOURCE_EXHAUSTED,
      message: 'quota reached (stand-in)',
      times: 20,
    });
    await expect(p.provision(spec())).rejects.toThrow(
      /Modal rate limit or quota \(RESOURCE_EXHAUSTED\).*quota reached/,
    );
    target.standin.fail('sandboxCreate', { code: Status.RESOURCE_EXHAUSTED, message: 'x', times: 0 });
    expect(await running()).toBe(before);
    await p.close();
  }, 120_000);

  it('under load (6 provisions at once while Modal rate-limits 4 creates) every runner gets its own sandbox', async () => {
    const p = make();
    const before = await running();
    target.standin.fail('sandboxCreate', {
      code: Status.RESOURCE_EXHAUSTED,
      message: 'slow down (stand-in)',
      times: 4,
    });
    const specs = Array.from({ length: 6 }, () => spec());
    const hs = await Promise.all(specs.map((s) => provision(p, s)));
    expect(new Set(hs.map((h) => h.externalId)).size).toBe(6);
    for (const [i, h] of hs.entries())
      expect(target.standin.engine.sandboxes.get(h.externalId)?.tags[tagKeys(target.prefix).runner]).toBe(
        specs[i]!.runnerId,
      );
    await Promise.all(hs.map((h) => p.terminate(h)));
    expect(await running()).toBe(before);
    await p.close();
  }, 180_000);

  it('a provision that fails after Modal made the sandbox terminates it', async () => {
    const p = make();
    const before = target.standin.engine.sandboxes.size;
    target.standin.fail('sandboxWait', { code: Status.FAILED_PRECONDITION, message: 'worker lost (stand-in)' });
    await expect(p.provision(spec())).rejects.toThrow(/worker lost \(stand-in\)/);
    // The sandbox was made, then terminated: it exists no more as a running sandbox.
    expect(target.standin.engine.sandboxes.size).toBe(before + 1);
    const last = [...target.standin.engine.sandboxes.values()].at(-1)!;
    expect(last.result?.status).toBe(3);
    expect((await target.standin.running()).map((s) => s.id)).not.toContain(last.id);
    await p.close();
  }, 60_000);

  it('a GPU request reaches Modal: the session asks by count (pool type default T4) or the pool names one', async () => {
    const p = make();
    const h = await provision(p, spec({ resources: { gpu: '2', cpu: '1.5', memoryMB: 2048 } }));
    const rec = target.standin.engine.sandboxes.get(h.externalId)!;
    expect(rec.resources.gpuConfig).toMatchObject({ gpuType: 'T4', count: 2 });
    expect(rec.resources).toMatchObject({ milliCpu: 1500, memoryMb: 2048 });
    // With a GPU the SDK uses Modal's V1 sandbox calls.
    expect(rec.family).toBe('v1');
    expect(h.metadata.resources).toEqual({ cpu: 1.5, memoryMiB: 2048, gpu: 'T4:2' });
    await p.terminate(h);
    const h2 = await provision(p, spec({ config: { gpu: 'A100:1' } }));
    expect(target.standin.engine.sandboxes.get(h2.externalId)!.resources.gpuConfig).toMatchObject({
      gpuType: 'A100',
      count: 1,
    });
    await p.terminate(h2);
    await p.close();
  }, 120_000);

  it('a filesystem snapshot comes back on a new sandbox; ending the session deletes its image', async () => {
    const p = make();
    const s = spec();
    const h = await provision(p, s);
    expect((await target.sh(h, 'echo kept > /workspace/k.txt && echo tool > /tmp/t.txt')).exitCode).toBe(0);
    const snap = await p.snapshot(h);
    const imageId = snap.metadata.snapshotImageId as string;
    expect(imageId).toMatch(/^im-/);
    expect(await p.status(h)).toBe('terminated');
    expect(target.standin.engine.images.get(imageId)?.committed).toBe(true);
    const back = await p.restore(snap, spec({ sessionId: s.sessionId }));
    made.push({ p, h: back });
    expect(back.externalId).not.toBe(h.externalId);
    expect((await target.sh(back, 'cat /workspace/k.txt /tmp/t.txt')).stdout).toBe('kept\ntool\n');
    await p.terminate(back);
    expect(target.standin.engine.images.has(imageId)).toBe(false);
    await p.close();
  }, 180_000);

  it('lists its sandboxes by tags and reaps orphans of this install only', async () => {
    const mine = make({ installId: 'inst-mine' });
    const other = make({ installId: 'inst-other' });
    const a = await provision(mine);
    const b = await provision(other);
    const listed = await mine.list();
    expect(listed.map((o) => o.id)).toEqual(expect.arrayContaining([a.externalId, b.externalId]));
    expect(listed.find((o) => o.id === a.externalId)?.owner.install).toBe('inst-mine');
    const r = await mine.reapOrphans(() => false);
    expect(r.removed.map((o) => o.id)).toContain(a.externalId);
    expect(r.removed.map((o) => o.id)).not.toContain(b.externalId);
    expect(r.foreign.map((o) => o.id)).toContain(b.externalId);
    expect(await mine.status(a)).toBe('terminated');
    expect(await other.status(b)).toBe('running');
    await other.terminate(b);
    await mine.close();
    await other.close();
  }, 120_000);
});
