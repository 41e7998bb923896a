/**
 * @module The daytona provider's own suspend operations and credentials, against the Daytona API
 * stand-in: with `archiveOnSuspend` a preserved sandbox is stopped then archived, and `restore`
 * starts the archived sandbox for the new runner with its files intact (relabelled, so the old
 * runner's handle no longer owns it); `snapshot` is idempotent across a retry; per-org
 * credentials come from the server's resolver before the environment.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ProviderUnavailable } from '../src/core/errors.js';
import { DaytonaSandboxProvider } from '../src/providers/daytona/provider.js';
import { dockerDescribe, makeSpec } from '../src/providers/docker/docker.test-support.js';
import type { SandboxHandle } from '../src/providers/types.js';
import { type DaytonaTarget, daytonaTarget } from './daytona.support.js';

dockerDescribe('daytona suspend operations and credentials (Daytona API stand-in)', () => {
  let target: DaytonaTarget;
  const made: Array<{ p: DaytonaSandboxProvider; h: SandboxHandle }> = [];
  const providers: DaytonaSandboxProvider[] = [];
  const make = (
    over: Record<string, unknown> = {},
    opts: ConstructorParameters<typeof DaytonaSandboxProvider>[1] = {},
  ) => {
    const p = new DaytonaSandboxProvider(target.config(9, over), { env: target.env, ...opts });
    providers.push(p);
    return p;
  };
  const state = (h: SandboxHandle) => target.standin.engine.find(h.externalId)?.state;

  beforeAll(async () => {
    target = await daytonaTarget();
  }, 300_000);

  afterAll(async () => {
    for (const { p, h } of made) {
      await p.terminate(h).catch(() => {});
      await p.destroyStorage(h).catch(() => {});
    }
    for (const p of providers) await p.close();
    const left = await target.standin.leftovers();
    await target.close();
    expect(left).toEqual([]);
  }, 120_000);

  it('archiveOnSuspend: stopped then archived; restore starts the archived sandbox for the new runner, files intact', async () => {
    const p = make({ archiveOnSuspend: true });
    const spec = makeSpec();
    const h = await p.provision(spec);
    made.push({ p, h });
    expect((await p.execCommand(h, 'echo archived-but-kept > /workspace/a.txt')).exitCode).toBe(0);
    await p.stopPreserveStorage(h);
    expect(state(h)).toBe('archived');
    expect(await p.status(h)).toBe('terminated');
    // Idempotent (a suspend step may run again after a crash).
    await p.stopPreserveStorage(h);

    const next = makeSpec({ orgId: spec.orgId, sessionId: spec.sessionId });
    const r = await p.restore(h, next);
    made.push({ p, h: r });
    expect(r.externalId).toBe(h.externalId);
    expect(r.metadata.runnerId).toBe(next.runnerId);
    expect(state(r)).toBe('started');
    expect((await p.execCommand(r, 'cat /workspace/a.txt')).stdout.trim()).toBe('archived-but-kept');
    // The old runner's handle no longer owns the sandbox: terminating it must not delete the new runner's.
    expect(await p.status(h)).toBe('terminated');
    await p.terminate(h);
    expect(await p.status(r)).toBe('running');
    await p.terminate(r);
    expect(state(r)).toBeUndefined();
  });

  it('snapshot twice (a retried step) keeps the first snapshot; restore builds a new sandbox from it', async () => {
    const p = make();
    const spec = makeSpec();
    const h = await p.provision(spec);
    made.push({ p, h });
    await p.execCommand(h, 'echo snapped > /workspace/s.txt');
    const s1 = await p.snapshot(h);
    const s2 = await p.snapshot(h);
    made.push({ p, h: s1 });
    expect(s2.metadata.snapshotName).toBe(s1.metadata.snapshotName);
    expect([...target.standin.engine.snapshots.values()].filter((x) => x.committed)).toHaveLength(1);
    expect(await p.status(h)).toBe('terminated');
    const r = await p.restore(s1, makeSpec({ orgId: spec.orgId, sessionId: spec.sessionId }));
    made.push({ p, h: r });
    expect(r.externalId).not.toBe(h.externalId);
    expect((await p.execCommand(r, 'cat /workspace/s.txt')).stdout.trim()).toBe('snapped');
    await p.terminate(r);
    await p.destroyStorage(s1);
    expect([...target.standin.engine.snapshots.values()].filter((x) => x.committed)).toHaveLength(0);
  });

  it('a suspend snapshot a crash left behind is listed as its session’s storage and reaped once adopted and not live', async () => {
    const p = make();
    const spec = makeSpec({ sessionId: 'ses_0crashed', runnerId: 'run_0crashed' });
    const h = await p.provision(spec);
    made.push({ p, h });
    const snapped = await p.snapshot(h);
    made.push({ p, h: snapped });
    expect(snapped.metadata.snapshotName).toBe('marionette-suspend-ses-0crashed-run-0crashed');
    // A new instance (the server restarted) finds it through the snapshot list.
    const after = make({}, { installId: 'ins_0test' });
    const listed = (await after.list()).find((o) => o.kind === 'snapshot');
    expect(listed).toMatchObject({
      role: 'storage',
      id: 'marionette-suspend-ses-0crashed-run-0crashed',
      owner: { session: 'ses_0crashed', runner: 'run_0crashed', install: '' },
    });
    // No install id: kept unless the install adopts it (its session is in that install's store).
    const foreign = await after.reapOrphans(() => false);
    expect(foreign.foreign.some((o) => o.kind === 'snapshot')).toBe(true);
    const kept = await after.reapOrphans(
      () => true,
      () => true,
    );
    expect(kept.kept.some((o) => o.kind === 'snapshot')).toBe(true);
    const r = await after.reapOrphans(
      (o) => o.owner.session !== 'ses_0crashed',
      () => true,
    );
    expect(r.removed.map((o) => o.id)).toContain('marionette-suspend-ses-0crashed-run-0crashed');
    expect(r.failed).toEqual([]);
    expect([...target.standin.engine.snapshots.values()].filter((x) => x.committed)).toHaveLength(0);
  });

  it("per-org credentials: the server's resolver wins over the environment; an org without one is told how to add it", async () => {
    const asked: string[] = [];
    const p = make(
      {},
      {
        env: {},
        resolveCredential: async (org) => {
          asked.push(org);
          return org === 'org-with'
            ? { apiKey: target.env.DAYTONA_API_KEY!, apiUrl: target.env.DAYTONA_API_URL! }
            : null;
        },
      },
    );
    const h = await p.provision(makeSpec({ orgId: 'org-with' }));
    made.push({ p, h });
    expect(await p.status(h)).toBe('running');
    const err = await p.provision(makeSpec({ orgId: 'org-without' })).then(
      () => new Error('the provision succeeded'),
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(ProviderUnavailable);
    expect(err.message).toContain('no Daytona credential for org org-without');
    expect(asked).toEqual(expect.arrayContaining(['org-with', 'org-without']));
    await p.terminate(h);
  });
});
