/**
 * The kubernetes provider's waits never hang on a watch that does not connect (an API server or
 * proxy that holds the response back): the start wait still fails at its timeout with the last
 * reason it listed, and the deletion wait still sees, by listing, that the objects are gone.
 * Before the fix both awaited the watch first and hung (a terminate at server start then never
 * returned). The API here is a plain object implementing the provider's `KubeApi` interface whose
 * watch never resolves; the real client is exercised against the stand-in elsewhere.
 */
import { describe, expect, it } from 'vitest';
import type { KubeApi, KubeObject } from '../src/providers/kubernetes/client.js';
import { waitForPod, waitGone } from '../src/providers/kubernetes/wait.js';

function apiWith(pods: () => KubeObject[]): KubeApi {
  const never = () => new Promise<never>(() => {});
  return {
    server: 'test',
    probe: async () => {},
    create: never,
    read: async () => null,
    list: async () => pods(),
    remove: async () => true,
    removePods: async () => {},
    events: async () => [],
    podLog: async () => '',
    watch: never,
  };
}

describe('kubernetes waits with a watch that never connects', () => {
  it('the start wait fails at its timeout with the reason it listed', async () => {
    const pending: KubeObject = {
      metadata: { name: 'p1' },
      status: {
        phase: 'Pending',
        conditions: [
          { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/1 nodes are available' },
        ],
      },
    };
    const started = Date.now();
    await expect(
      waitForPod(
        apiWith(() => [pending]),
        {
          namespace: 'ns',
          selector: 'a=b',
          job: 'j',
          timeoutMs: 300,
          what: 'the pod',
        },
      ),
    ).rejects.toThrow('the pod did not start within 0s: Unschedulable: 0/1 nodes are available');
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('the deletion wait sees by listing that the pods are gone', async () => {
    let left: KubeObject[] = [{ metadata: { name: 'p1' } }];
    setTimeout(() => {
      left = [];
    }, 200);
    await expect(
      waitGone(
        apiWith(() => left),
        'pods',
        'ns',
        { label: 'a=b' },
        20_000,
      ),
    ).resolves.toBeUndefined();
  });

  it('the deletion wait gives up naming what is still there', async () => {
    await expect(
      waitGone(
        apiWith(() => [{ metadata: { name: 'stuck' } }]),
        'pods',
        'ns',
        { label: 'a=b' },
        300,
      ),
    ).rejects.toThrow(/pods stuck in ns still there/);
  });
});
