/**
 * @module Shared setup of the daytona provider tests: the Daytona API stand-in
 * (test/daytona-standin/) on this machine's Docker Engine, with the agent image the docker tests
 * build as its `marionette-agent` snapshot and this checkout's agent mounted into every sandbox,
 * and a provider config whose sandboxes dial a test server's gateway on loopback. The real
 * service is tested apart, when MARIONETTE_TEST_DAYTONA_API_KEY is set (test/daytona.real.e2e.test.ts).
 */
import { randomBytes } from 'node:crypto';
import type { DaytonaProviderConfigInput } from '../src/providers/daytona/config.js';
import { docker, ensureTestImage, TEST_IMAGE } from '../src/providers/docker/docker.test-support.js';
import { findPackageRoot } from '../src/providers/docker/helpers.js';
import { type DaytonaStandin, startDaytonaStandin } from './daytona-standin/index.js';

/** A real Daytona API key: test/daytona.real.e2e.test.ts runs against the real service with it. */
export const REAL_DAYTONA_KEY = process.env.MARIONETTE_TEST_DAYTONA_API_KEY;

/** The agent command inside a stand-in sandbox (the checkout's agent, mounted as the docker tests mount it). */
const AGENT = '/opt/marionette-node/bin/node /opt/marionette/bin/marionette-agent';

export interface DaytonaTarget {
  standin: DaytonaStandin;
  /** The credential environment (DAYTONA_API_KEY, DAYTONA_API_URL). */
  env: Record<string, string>;
  /** A label prefix of this test file only. */
  prefix: string;
  /** The provider section for a server whose gateway listens on `gatewayPort` (loopback). */
  config(gatewayPort: number, over?: Partial<DaytonaProviderConfigInput>): DaytonaProviderConfigInput;
  close(): Promise<void>;
}

/** `isolated`: sandboxes behind NAT whose `ports` only the stand-in's preview links reach. */
export async function daytonaTarget(isolated?: { ports: number[] }): Promise<DaytonaTarget> {
  const prefix = `t${randomBytes(4).toString('hex')}.mtest`;
  await ensureTestImage();
  const standin = await startDaytonaStandin({
    docker,
    ...(isolated ? { isolated } : {}),
    snapshots: { 'marionette-agent': TEST_IMAGE },
    mounts: [
      { source: findPackageRoot(), target: '/opt/marionette' },
      { source: process.execPath, target: '/opt/marionette-node/bin/node' },
    ],
  });
  return {
    standin,
    env: { DAYTONA_API_KEY: standin.apiKey, DAYTONA_API_URL: standin.url },
    prefix,
    config: (gatewayPort, over = {}) => ({
      gateway: `ws://127.0.0.1:${gatewayPort}`,
      agentCommand: AGENT,
      labelPrefix: prefix,
      startTimeout: '90s',
      ...over,
    }),
    close: () => standin.close(),
  };
}
