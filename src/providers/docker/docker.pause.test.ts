/** @module `pause` freezes the sandbox's processes with their memory; `unpause` continues them where they were. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  docker,
  dockerDescribe,
  ensureTestImage,
  expectNoLeaks,
  makeSpec,
  readVolumeFile,
  TEST_IMAGE,
  uniquePrefix,
  waitFor,
} from './docker.test-support.js';
import { DockerSandboxProvider } from './provider.js';

const prefix = uniquePrefix();
// The counter lives only in the shell's memory; every value is appended to /workspace/seq and the
// loop writes one line to /workspace/starts when it (re)starts.
const loop =
  'echo start >> /workspace/starts; i=0; while true; do i=$((i+1)); echo $i >> /workspace/seq; echo $i > /workspace/c.tmp; mv /workspace/c.tmp /workspace/counter; sleep 0.1; done';
const provider = new DockerSandboxProvider({
  image: TEST_IMAGE,
  network: 'none',
  labelPrefix: prefix,
  command: ['bash', '-c', loop],
});

async function counter(volume: string): Promise<number> {
  return Number((await readVolumeFile(prefix, volume, 'counter')).trim());
}

dockerDescribe('docker provider pause', () => {
  beforeAll(ensureTestImage);
  afterAll(() => expectNoLeaks(prefix));

  it('keeps the in-memory counter across pause and unpause', async () => {
    const h = await provider.provision(makeSpec());
    const volume = h.metadata.volume as string;
    try {
      await waitFor('counter >= 5', async () => ((await counter(volume)) >= 5 ? true : undefined));
      await provider.pause(h);
      expect((await docker.getContainer(h.externalId).inspect()).State.Paused).toBe(true);
      expect(await provider.status(h)).toBe('running');
      const frozen = await counter(volume);
      await new Promise((r) => setTimeout(r, 1000));
      expect(await counter(volume)).toBe(frozen);
      await provider.unpause(h);
      expect((await docker.getContainer(h.externalId).inspect()).State.Paused).toBe(false);
      await waitFor('counter moves on', async () => ((await counter(volume)) > frozen + 3 ? true : undefined));
      const seq = (await readVolumeFile(prefix, volume, 'seq')).trim().split('\n').map(Number);
      // one uninterrupted run: 1, 2, 3, ... with no reset after the pause
      expect(seq.every((v, i) => v === i + 1)).toBe(true);
      expect(seq.length).toBeGreaterThan(frozen + 3);
      expect((await readVolumeFile(prefix, volume, 'starts')).trim().split('\n')).toEqual(['start']);
    } finally {
      await provider.terminate(h);
    }
  });

  it('terminate removes a paused sandbox', async () => {
    const h = await provider.provision(makeSpec());
    await provider.pause(h);
    await provider.terminate(h);
    expect(await provider.status(h)).toBe('terminated');
  });
});
