/** @module `reapOrphans` removes labelled objects whose owner is gone and leaves live ones. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  docker,
  dockerDescribe,
  ensureTestImage,
  expectNoLeaks,
  makeSpec,
  TEST_IMAGE,
  uid,
  uniquePrefix,
} from './docker.test-support.js';
import { DockerSandboxProvider, listOwned } from './provider.js';

const prefix = uniquePrefix();
const network = `mtest-net-${uid()}`;
const provider = new DockerSandboxProvider({
  image: TEST_IMAGE,
  network,
  labelPrefix: prefix,
  command: ['sleep', '600'],
});

dockerDescribe('docker provider reconciliation', () => {
  beforeAll(ensureTestImage);
  afterAll(() => expectNoLeaks(prefix));

  it('reaps what belongs to gone runners, keeps live ones, and skips a network still in use', async () => {
    const live = makeSpec();
    const gone = makeSpec();
    const goneSnap = makeSpec();
    const hLive = await provider.provision(live);
    const hGone = await provider.provision(gone);
    const hSnap = await provider.snapshot(await provider.provision(goneSnap));
    try {
      const owned = await listOwned(docker, { labelPrefix: prefix });
      const kinds = (runner: string) =>
        owned
          .filter((o) => o.owner.runner === runner)
          .map((o) => o.kind)
          .sort();
      expect(kinds(live.runnerId)).toEqual(['container', 'volume']);
      expect(kinds(gone.runnerId)).toEqual(['container', 'volume']);
      expect(kinds(goneSnap.runnerId)).toEqual(['image', 'volume']);
      const net = owned.filter((o) => o.kind === 'network');
      expect(net.map((n) => n.name)).toEqual([network]);

      const r = await provider.reapOrphans((o) => o.owner.runner === live.runnerId);
      expect(r.failed).toEqual([]);
      expect(r.removed.map((o) => `${o.kind}:${o.owner.runner}`).sort()).toEqual(
        [
          `container:${gone.runnerId}`,
          `volume:${gone.runnerId}`,
          `image:${goneSnap.runnerId}`,
          `volume:${goneSnap.runnerId}`,
        ].sort(),
      );
      expect(r.skipped.map((s) => s.object.name)).toEqual([network]);
      expect(await provider.status(hLive)).toBe('running');
      expect(await provider.status(hGone)).toBe('terminated');
      await expect(docker.getImage(hSnap.metadata.snapshotImage as string).inspect()).rejects.toMatchObject({
        statusCode: 404,
      });

      await provider.terminate(hLive);
      const r2 = await provider.reapOrphans(() => false);
      expect(r2.failed).toEqual([]);
      expect(r2.removed.map((o) => o.name)).toEqual([network]);
    } finally {
      await provider.terminate(hLive);
      await provider.terminate(hGone);
      await provider.terminate(hSnap);
      await docker
        .getNetwork(network)
        .remove()
        .catch((e: { statusCode?: number }) => {
          if (e.statusCode !== 404) throw e;
        });
    }
  });
});
