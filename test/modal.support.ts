/**
 * @module Shared setup of the modal provider tests: the Modal API stand-in (test/modal-standin/, a
 * gRPC server speaking the SDK's own definitions) on this machine's Docker Engine, whose registry
 * has the agent image the docker tests build as `marionette-agent:latest`, with this checkout's
 * agent mounted into every sandbox, and a provider config pointing the SDK at the stand-in
 * (`serverUrl`, plaintext on loopback) whose sandboxes dial a test server's gateway on loopback.
 * The real service is tested apart, when MARIONETTE_TEST_MODAL_TOKEN_ID/SECRET are set
 * (test/modal.real.test.ts).
 */
import { randomBytes } from 'node:crypto';
import { docker, ensureTestImage, execIn, TEST_IMAGE } from '../src/providers/docker/docker.test-support.js';
import { findPackageRoot } from '../src/providers/docker/helpers.js';
import type { ModalProviderConfigInput } from '../src/providers/modal/config.js';
import type { SandboxHandle } from '../src/providers/types.js';
import { type ModalStandin, startModalStandin } from './modal-standin/index.js';

/** The agent command inside a stand-in sandbox (the checkout's agent, mounted as the docker tests mount it). */
const AGENT = '/opt/marionette-node/bin/node /opt/marionette/bin/marionette-agent';

export interface ModalTarget {
  standin: ModalStandin;
  /** The credential environment (MODAL_TOKEN_ID, MODAL_TOKEN_SECRET). */
  env: Record<string, string>;
  /** A tag prefix of this test file only. */
  prefix: string;
  /** The provider section for a server whose gateway listens on `gatewayPort` (loopback). */
  config(gatewayPort: number, over?: Partial<ModalProviderConfigInput>): ModalProviderConfigInput;
  /** Runs a shell command in a stand-in sandbox through Docker, not through the provider. */
  sh(
    h: SandboxHandle,
    script: string,
    ...args: string[]
  ): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  close(): Promise<void>;
}

export async function modalTarget(): Promise<ModalTarget> {
  const prefix = `t${randomBytes(4).toString('hex')}.mtest`;
  await ensureTestImage();
  const standin = await startModalStandin({
    docker,
    registry: { 'marionette-agent:latest': TEST_IMAGE },
    mounts: [
      { source: findPackageRoot(), target: '/opt/marionette' },
      { source: process.execPath, target: '/opt/marionette-node/bin/node' },
    ],
  });
  return {
    standin,
    env: { MODAL_TOKEN_ID: standin.tokenId, MODAL_TOKEN_SECRET: standin.tokenSecret },
    prefix,
    config: (gatewayPort, over = {}) => ({
      serverUrl: standin.url,
      gateway: `ws://127.0.0.1:${gatewayPort}`,
      agentCommand: AGENT,
      tagPrefix: prefix,
      appName: `marionette-${prefix.slice(0, 9)}`,
      ...over,
    }),
    sh: (h, script, ...args) => {
      const s = standin.engine.sandboxes.get(h.externalId);
      if (!s?.containerId) throw new Error(`no stand-in sandbox ${h.externalId}`);
      return execIn(docker, s.containerId, ['sh', '-c', script, ...args]);
    },
    close: () => standin.close(),
  };
}
