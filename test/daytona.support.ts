/**
 * @module Shared setup of the daytona provider tests: the Daytona API stand-in
 * (test/daytona-standin/) on this machine's Docker Engine, with the agent image the docker tests
 * build as its `marionette-agent` snapshot and this checkout's agent mounted into every sandbox,
 * and a provider config whose sandboxes dial a test server's gateway on loopback. With
 * MARIONETTE_TEST_DAYTONA_API_KEY set, `daytonaTarget` points at the real service instead
 * (MARIONETTE_TEST_DAYTONA_API_URL, MARIONETTE_TEST_DAYTONA_SNAPSHOT, MARIONETTE_TEST_DAYTONA_GATEWAY).
 */
import { randomBytes } from 'node:crypto';
import type { DaytonaProviderConfigInput } from '../src/providers/daytona/config.js';
import { docker, ensureTestImage, TEST_IMAGE } from '../src/providers/docker/docker.test-support.js';
import { findPackageRoot } from '../src/providers/docker/helpers.js';
import { type DaytonaStandin, startDaytonaStandin } from './daytona-standin/index.js';

export const REAL_DAYTONA_KEY = process.env.MARIONETTE_TEST_DAYTONA_API_KEY;

/** The agent command inside a stand-in sandbox (the checkout's agent, mounted as the docker tests mount it). */
const AGENT = '/opt/marionette-node/bin/node /opt/marionette/bin/marionette-agent';

export interface DaytonaTarget {
  standin: DaytonaStandin | null;
  /** The credential environment (DAYTONA_API_KEY, DAYTONA_API_URL). */
  env: Record<string, string>;
  /** A label prefix of this test file only. */
  prefix: string;
  /** The provider section for a server whose gateway listens on `gatewayPort` (loopback). */
  config(gatewayPort: number, over?: Partial<DaytonaProviderConfigInput>): DaytonaProviderConfigInput;
  close(): Promise<void>;
}

export async function daytonaTarget(): Promise<DaytonaTarget> {
  const prefix = `t${randomBytes(4).toString('hex')}.mtest`;
  if (REAL_DAYTONA_KEY) {
    const env: Record<string, string> = { DAYTONA_API_KEY: REAL_DAYTONA_KEY };
    if (process.env.MARIONETTE_TEST_DAYTONA_API_URL) env.DAYTONA_API_URL = process.env.MARIONETTE_TEST_DAYTONA_API_URL;
    return {
      standin: null,
      env,
      prefix,
      config: (gatewayPort, over = {}) => ({
        gateway: process.env.MARIONETTE_TEST_DAYTONA_GATEWAY ?? `ws://127.0.0.1:${gatewayPort}`,
        snapshot: process.env.MARIONETTE_TEST_DAYTONA_SNAPSHOT ?? 'marionette-agent',
        labelPrefix: prefix,
        ...over,
      }),
      close: async () => {},
    };
  }
  await ensureTestImage();
  const standin = await startDaytonaStandin({
    docker,
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
