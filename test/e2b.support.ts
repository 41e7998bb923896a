/**
 * @module Shared setup of the e2b provider tests: the E2B stand-in (test/e2b-standin/) on this
 * machine's Docker Engine, whose `marionette-agent` template is the locally built agent image with
 * this checkout's agent mounted, and a provider section pointing the SDK at it, whose sandboxes
 * dial a test server's gateway on loopback. (The real service is tested by e2b.real.test.ts.)
 */
import { randomBytes } from 'node:crypto';
import { docker, ensureTestImage, execIn, TEST_IMAGE } from '../src/providers/docker/docker.test-support.js';
import { findPackageRoot } from '../src/providers/docker/helpers.js';
import type { E2bProviderConfigInput } from '../src/providers/e2b/config.js';
import type { SandboxHandle } from '../src/providers/types.js';
import { type E2bStandin, startE2bStandin } from './e2b-standin/index.js';

/** A metadata prefix of this test file only. */
export function e2bPrefix(): string {
  return `t${randomBytes(4).toString('hex')}.mtest`;
}

export interface E2bTarget {
  standin: E2bStandin;
  apiKey: string;
  /** The provider section for a server whose gateway listens on `gatewayPort` (loopback). */
  config(gatewayPort: number, over?: Partial<E2bProviderConfigInput>): E2bProviderConfigInput;
  /** The Docker container of a stand-in sandbox. */
  container(h: SandboxHandle): string;
  /** Runs a shell command in a stand-in sandbox through Docker, not through the provider. */
  sh(
    h: SandboxHandle,
    script: string,
    ...args: string[]
  ): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  close(): Promise<void>;
}

/** `isolated`: sandboxes behind NAT whose `ports` only the stand-in's tunnel proxy reaches. */
export async function e2bTarget(prefix: string, isolated?: { ports: number[] }): Promise<E2bTarget> {
  await ensureTestImage();
  const standin = await startE2bStandin({
    docker,
    ...(isolated ? { isolated } : {}),
    templates: { 'marionette-agent': TEST_IMAGE },
    mounts: [
      { host: findPackageRoot(), at: '/opt/marionette' },
      { host: process.execPath, at: '/opt/marionette-node/bin/node' },
    ],
  });
  const container = (h: SandboxHandle) => {
    const s = standin.sandboxes.all.get(h.externalId);
    if (!s) throw new Error(`no stand-in sandbox ${h.externalId}`);
    return s.container;
  };
  return {
    standin,
    apiKey: standin.apiKey,
    config: (gatewayPort, over = {}) => ({
      apiUrl: standin.apiUrl,
      sandboxUrl: standin.sandboxUrl,
      gateway: `ws://127.0.0.1:${gatewayPort}`,
      metadataPrefix: prefix,
      // The stand-in's template is the local agent image with this checkout's agent mounted.
      ...(standin
        ? {
            agentCommand: '/opt/marionette-node/bin/node /opt/marionette/bin/marionette-agent',
            workspace: '/workspace',
          }
        : {}),
      sandboxTimeout: '15m',
      ...over,
    }),
    container,
    sh: (h, script, ...args) => execIn(docker, container(h), ['sh', '-c', script, ...args]),
    close: async () => {
      await standin.close();
    },
  };
}
