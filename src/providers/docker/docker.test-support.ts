/**
 * @module Shared helpers for the docker provider tests: engine probe with visible skip (or hard
 * failure under `MARIONETTE_REQUIRE_DOCKER=1`), the cached agent image, unique labels per test
 * file, exec / volume reads, and the leak check.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import Dockerode from 'dockerode';
import { describe, expect, it } from 'vitest';
import type { SandboxSpec } from '../types.js';
import { buildAgentImage } from './image.js';
import { type DockerClient, listOwned, ownerLabels, removeContainer } from './provider.js';

/** Image the tests use; built once per machine (cached by tag and format label). */
export const TEST_IMAGE = 'marionette/agent:latest';

export const docker = new Dockerode({ socketPath: '/var/run/docker.sock' });

async function probe(): Promise<{ ok: boolean; reason: string }> {
  try {
    await docker.ping();
    return { ok: true, reason: '' };
  } catch (e: unknown) {
    return { ok: false, reason: `Docker Engine unreachable at /var/run/docker.sock: ${(e as Error).message}` };
  }
}

export const engine = await probe();

/**
 * `describe` that runs when the engine answers, skips with a printed reason when it does not, and
 * fails when `MARIONETTE_REQUIRE_DOCKER=1`.
 */
export function dockerDescribe(name: string, fn: () => void): void {
  if (engine.ok) {
    describe(name, fn);
    return;
  }
  if (process.env.MARIONETTE_REQUIRE_DOCKER === '1') {
    describe(name, () => {
      it('needs a Docker Engine (MARIONETTE_REQUIRE_DOCKER=1)', () => {
        throw new Error(engine.reason);
      });
    });
    return;
  }
  console.warn(`[docker tests] skipping "${name}": ${engine.reason}`);
  describe.skip(name, fn);
}

/** Builds the test image once per machine; a lock directory keeps parallel test files from racing. */
export async function ensureTestImage(): Promise<void> {
  const lock = join(tmpdir(), 'marionette-agent-image-build.lock');
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch {
      const st = await stat(lock).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > 120_000) await rm(lock, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    await buildAgentImage({ docker, tag: TEST_IMAGE, ifMissing: true });
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

/** A label prefix nobody else uses, so listOwned / reapOrphans only ever see this file's objects. */
export function uniquePrefix(): string {
  return `io.mtest-${randomBytes(5).toString('hex')}`;
}

export function uid(): string {
  return randomBytes(4).toString('hex');
}

/** A spec with unique ids; `config` is the pool's sandbox_config. */
export function makeSpec(over: Partial<SandboxSpec> = {}): SandboxSpec {
  const id = uid();
  return {
    projectId: `proj-${id}`,
    orgId: `org-${id}`,
    registrationToken: `mrt_test_${id}`,
    env: {},
    config: {},
    runnerId: `run-${id}`,
    poolId: `pool-${id}`,
    poolName: 'test',
    sessionId: `ses-${id}`,
    ...over,
  };
}

/** Runs a command in a running container; returns exit code and output. */
export async function execIn(
  client: DockerClient,
  containerId: string,
  cmd: string[],
): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const ex = await client.getContainer(containerId).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await ex.start({ hijack: true, stdin: false });
  const out = new PassThrough();
  const err = new PassThrough();
  const chunks: Buffer[] = [];
  const errChunks: Buffer[] = [];
  out.on('data', (b: Buffer) => chunks.push(b));
  err.on('data', (b: Buffer) => errChunks.push(b));
  client.modem.demuxStream(stream, out, err);
  await new Promise<void>((res, rej) => {
    stream.on('end', () => res());
    stream.on('error', rej);
  });
  const info = await ex.inspect();
  return {
    exitCode: info.ExitCode ?? -1,
    stdout: Buffer.concat(chunks).toString(),
    stderr: Buffer.concat(errChunks).toString(),
  };
}

/**
 * Reads a file from a volume through a short-lived, labelled helper container (works while the
 * sandbox is paused, when exec is refused).
 */
export async function readVolumeFile(prefix: string, volume: string, path: string): Promise<string> {
  const c = await docker.createContainer({
    Image: TEST_IMAGE,
    Entrypoint: ['cat', `/w/${path}`],
    Cmd: [],
    User: '1000:1000',
    Labels: ownerLabels(prefix, { sessionId: null, runnerId: 'reader', poolId: '', orgId: '' }, 'container'),
    HostConfig: { NetworkMode: 'none', Mounts: [{ Type: 'volume', Source: volume, Target: '/w', ReadOnly: true }] },
  });
  try {
    await c.start();
    const r = (await c.wait()) as { StatusCode: number };
    const text = demuxBuffer(await c.logs({ stdout: true, stderr: true, follow: false }));
    if (r.StatusCode !== 0) throw new Error(`cat /w/${path} exited ${r.StatusCode}: ${text}`);
    return text;
  } finally {
    await removeContainer(docker, c.id);
  }
}

function demuxBuffer(b: Buffer): string {
  let out = '';
  let i = 0;
  while (i + 8 <= b.length) {
    const len = b.readUInt32BE(i + 4);
    out += b.subarray(i + 8, i + 8 + len).toString();
    i += 8 + len;
  }
  return out;
}

/** Polls `fn` until it returns a value that is not undefined, or fails after `ms`. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e: unknown) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Fails when any object under `prefix` is left. */
export async function expectNoLeaks(prefix: string): Promise<void> {
  const left = await listOwned(docker, { labelPrefix: prefix });
  expect(left.map((o) => `${o.kind} ${o.name}`)).toEqual([]);
}
