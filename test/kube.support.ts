/**
 * @module Shared setup of the kubernetes provider tests: the Kubernetes API stand-in
 * (test/kube-standin/) on this machine's Docker Engine, a provider config for it whose runner
 * pods dial a test server's gateway on loopback, and a label prefix nobody else uses. With
 * `MARIONETTE_TEST_KUBECONFIG` set, `kubeTarget` points at that real cluster instead.
 */
import { randomBytes } from 'node:crypto';
import { docker, ensureTestImage, TEST_IMAGE } from '../src/providers/docker/docker.test-support.js';
import { findPackageRoot } from '../src/providers/docker/helpers.js';
import type { KubernetesProviderConfigInput } from '../src/providers/kubernetes/config.js';
import { type KubeStandin, startKubeStandin } from './kube-standin/index.js';

/** A label prefix (DNS subdomain) of this test file only. */
export function kubePrefix(): string {
  return `t${randomBytes(4).toString('hex')}.mtest.marionette.io`;
}

/** A real cluster to test against instead of the stand-in (its namespace must exist and reach the gateway). */
export const REAL_KUBECONFIG = process.env.MARIONETTE_TEST_KUBECONFIG;

export interface KubeTarget {
  standin: KubeStandin | null;
  /** The provider section for a server whose gateway listens on `gatewayPort` (loopback). */
  config(gatewayPort: number, over?: Partial<KubernetesProviderConfigInput>): KubernetesProviderConfigInput;
  close(): Promise<void>;
}

/** Starts the stand-in (builds the agent image first), or uses the real cluster of MARIONETTE_TEST_KUBECONFIG. */
export async function kubeTarget(prefix: string): Promise<KubeTarget> {
  await ensureTestImage();
  const standin = REAL_KUBECONFIG ? null : await startKubeStandin({ docker });
  return {
    standin,
    config: (gatewayPort, over = {}) => ({
      kubeconfig: standin?.kubeconfig ?? REAL_KUBECONFIG,
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
