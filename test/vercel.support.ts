/**
 * @module Shared setup of the vercel provider tests: the Vercel Sandbox stand-in
 * (test/vercel-standin/) on this machine's Docker Engine, whose `marionette-agent` image is the
 * locally built agent image with this checkout's agent mounted, and a provider section pointing the
 * SDK at it (`apiUrl`), whose sandboxes dial a test server's gateway on loopback. The real service
 * is tested apart, when MARIONETTE_TEST_VERCEL_TOKEN is set (test/vercel.real.test.ts).
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { docker, ensureTestImage, execIn, TEST_IMAGE } from '../src/providers/docker/docker.test-support.js';
import { findPackageRoot } from '../src/providers/docker/helpers.js';
import type { SandboxHandle } from '../src/providers/types.js';
import type { VercelProviderConfigInput } from '../src/providers/vercel/config.js';
import { startVercelStandin, type VercelStandin } from './vercel-standin/index.js';

/** The agent command inside a stand-in sandbox (the checkout's agent, mounted as the docker tests mount it). */
const AGENT = '/opt/marionette-node/bin/node /opt/marionette/bin/marionette-agent';

export interface VercelTarget {
  standin: VercelStandin;
  /** The credential environment (VERCEL_TOKEN, VERCEL_TEAM_ID, VERCEL_PROJECT_ID). */
  env: Record<string, string>;
  /** A name prefix of this test file only. */
  prefix: string;
  /** The provider section for a server whose gateway listens on `gatewayPort` (loopback). */
  config(gatewayPort: number, over?: Partial<VercelProviderConfigInput>): VercelProviderConfigInput;
  /** The Docker container of a stand-in sandbox's running session. */
  container(h: SandboxHandle): string;
  /** Runs a shell command in a stand-in sandbox through Docker, not through the provider. */
  sh(
    h: SandboxHandle,
    script: string,
    ...args: string[]
  ): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /** The stand-in's sandboxes of this file, as `name status`. */
  sandboxes(): string[];
  close(): Promise<void>;
}

/** A port free right now on loopback (the gateway address must be in the config before the server starts). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

export async function vercelTarget(): Promise<VercelTarget> {
  const prefix = `t${randomBytes(4).toString('hex')}`;
  await ensureTestImage();
  const standin = await startVercelStandin({
    docker,
    images: { 'marionette-agent': TEST_IMAGE },
    mounts: [
      { host: findPackageRoot(), at: '/opt/marionette' },
      { host: process.execPath, at: '/opt/marionette-node/bin/node' },
    ],
  });
  const container = (h: SandboxHandle) => {
    const s = standin.sandboxes.sandboxes.get(h.externalId);
    const c = s ? standin.sandboxes.sessions.get(s.currentSessionId)?.container : null;
    if (!c) throw new Error(`no running stand-in sandbox ${h.externalId}`);
    return c;
  };
  return {
    standin,
    env: {
      VERCEL_TOKEN: standin.credential.token,
      VERCEL_TEAM_ID: standin.credential.teamId,
      VERCEL_PROJECT_ID: standin.credential.projectId,
    },
    prefix,
    config: (gatewayPort, over = {}) => ({
      apiUrl: standin.url,
      gateway: `ws://127.0.0.1:${gatewayPort}`,
      agentCommand: AGENT,
      workspace: '/workspace',
      namePrefix: prefix,
      sandboxTimeout: '30m',
      ...over,
    }),
    container,
    sh: (h, script, ...args) => execIn(docker, container(h), ['sh', '-c', script, ...args]),
    sandboxes: () =>
      [...standin.sandboxes.sandboxes.values()]
        .filter((s) => s.name.startsWith(`${prefix}-`))
        .map((s) => `${s.name} ${standin.sandboxes.sessions.get(s.currentSessionId)?.status ?? '?'}`),
    close: () => standin.close(),
  };
}
