/**
 * @module Shared setup of the kubernetes provider tests: the Kubernetes API stand-in
 * (test/kube-standin/) on this machine's Docker Engine, a provider config for it whose runner
 * pods dial a test server's gateway on loopback, and a label prefix nobody else uses. With
 * `MARIONETTE_TEST_KUBECONFIG` set, `kubeTarget` points at that real cluster instead. Either way
 * `api` reads the cluster through the client library (what a test asserts on, so it holds on a
 * real cluster too); `standin` is null on a real cluster, and a check that needs it is skipped.
 */
import { randomBytes } from 'node:crypto';
import { docker, ensureTestImage, TEST_IMAGE } from '../src/providers/docker/docker.test-support.js';
import { findPackageRoot } from '../src/providers/docker/helpers.js';
import {
  clientNodeApi,
  type KubeApi,
  type KubeKind,
  type KubeObject,
  loadKubeConfig,
} from '../src/providers/kubernetes/client.js';
import type { KubernetesProviderConfigInput } from '../src/providers/kubernetes/config.js';
import { type KubeStandin, startKubeStandin } from './kube-standin/index.js';

/** A label prefix (DNS subdomain) of this test file only. */
export function kubePrefix(): string {
  return `t${randomBytes(4).toString('hex')}.mtest.marionette.io`;
}

/** A real cluster to test against instead of the stand-in (its namespace must exist and reach the gateway). */
export const REAL_KUBECONFIG = process.env.MARIONETTE_TEST_KUBECONFIG;

/** Every kind the provider creates (a runner's token Secret included). */
export const KUBE_KINDS: readonly KubeKind[] = ['jobs', 'pods', 'persistentvolumeclaims', 'networkpolicies', 'secrets'];

export interface KubeTarget {
  standin: KubeStandin | null;
  /** The cluster's API through @kubernetes/client-node (the stand-in's or the real one). */
  api: KubeApi;
  /** Objects of `kind` under the test's label prefix (and `selector` more), through the API. */
  objects(kind: KubeKind, selector?: string): Promise<KubeObject[]>;
  /** What is left of this test's objects (through the API) and, with the stand-in, of its containers and volumes. */
  leftovers(): Promise<string[]>;
  /** The provider section for a server whose gateway listens on `gatewayPort` (loopback). */
  config(gatewayPort: number, over?: Partial<KubernetesProviderConfigInput>): KubernetesProviderConfigInput;
  close(): Promise<void>;
}

/** Starts the stand-in (builds the agent image first), or uses the real cluster of MARIONETTE_TEST_KUBECONFIG. */
export async function kubeTarget(prefix: string): Promise<KubeTarget> {
  await ensureTestImage();
  const standin = REAL_KUBECONFIG ? null : await startKubeStandin({ docker });
  const kubeconfig = standin?.kubeconfig ?? REAL_KUBECONFIG;
  const api = clientNodeApi(loadKubeConfig({ kubeconfig }));
  const objects = (kind: KubeKind, selector?: string) =>
    api.list(kind, 'marionette', [`${prefix}/managed=true`, ...(selector ? [selector] : [])].join(','));
  return {
    standin,
    api,
    objects,
    async leftovers() {
      const out: string[] = [];
      for (const kind of KUBE_KINDS)
        for (const o of await objects(kind)) out.push(`${kind} ${o.metadata?.name ?? '?'}`);
      return [...out, ...((await standin?.leftovers()) ?? [])];
    },
    config: (gatewayPort, over = {}) => ({
      kubeconfig,
      namespace: 'marionette',
      image: TEST_IMAGE,
      gateway: `ws://127.0.0.1:${gatewayPort}`,
      labelPrefix: prefix,
      // The stand-in's nodes are this machine: the agent comes from this checkout, as with the docker provider.
      ...(standin ? { agentHostPath: { packageRoot: findPackageRoot(), node: process.execPath } } : {}),
      startTimeout: '90s',
      ...over,
    }),
    close: async () => {
      await standin?.close();
    },
  };
}
