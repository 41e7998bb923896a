/**
 * @module marionette.yaml's `providers:` section, checked by each provider's descriptor: an unknown
 * provider id names the known ones, a provider that is not implemented (firecracker) stops the server,
 * the seed's `providers.kubernetes` example is accepted, an unknown key names the key, and the seed's
 * `providers.pool.pools` become pools.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidRequest } from '../core/errors.js';
import { defaultSuspendConfig, PROVIDER_IDS } from '../providers/registry.js';
import { loadServerConfig } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'marionette-providers-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** Loads `yaml` as marionette.yaml; returns the config or the error message. */
function load(yaml: string) {
  const file = join(dir, `m${n++}.yaml`);
  writeFileSync(file, yaml);
  return loadServerConfig({ config: file, home: dir }, {});
}
function refusal(yaml: string): string {
  try {
    load(yaml);
  } catch (e: unknown) {
    expect(e).toBeInstanceOf(InvalidRequest);
    return (e as Error).message;
  }
  throw new Error('the config was accepted');
}

/** The seed's Kubernetes example, verbatim. */
const SEED_KUBERNETES = `providers:
  kubernetes:
    namespace: "marionette"
    image: "marionette/agent:latest"
    resources:
      requests:
        memory: "2Gi"
        cpu: "1"
      limits:
        memory: "8Gi"
        cpu: "4"
`;

/** The seed's Docker example plus its per-provider suspend config, verbatim. */
const SEED_DOCKER = `providers:
  docker:
    host: "unix:///var/run/docker.sock"
    image: "marionette/agent:latest"
    network: "marionette-network"
    resources:
      memory: "4g"
      cpus: "2"
    suspend_config:
      strategy: pause
      fallback: terminate_preserve_storage
      min_duration: 60s
      max_duration: 24h
`;

describe('providers: in marionette.yaml', () => {
  it("the seed's kubernetes section is accepted as written, with its defaults", () => {
    const cfg = load(SEED_KUBERNETES);
    const k = (cfg.providers as Record<string, Record<string, unknown>>).kubernetes!;
    expect(k).toMatchObject({
      namespace: 'marionette',
      image: 'marionette/agent:latest',
      resources: { requests: { memory: '2Gi', cpu: '1' }, limits: { memory: '8Gi', cpu: '4' } },
      labelPrefix: 'marionette.io',
    });
  });

  it('a bad kubernetes key is refused naming it', () => {
    expect(refusal('providers:\n  kubernetes: {namespace: x, imagee: y}\n')).toContain(
      'providers.kubernetes: unknown key imagee',
    );
    expect(refusal('providers:\n  kubernetes: {resources: {requests: {cpu: lots}}}\n')).toContain(
      'providers.kubernetes: resources.requests.cpu: expected a quantity',
    );
  });

  it('every provider without an implementation is refused the same way', () => {
    expect(refusal('providers:\n  firecracker: {}\n')).toContain('providers.firecracker: ');
    expect(refusal('providers:\n  vercel: {teamm: x}\n')).toMatch(/providers\.vercel: unknown key teamm/);
    expect(refusal('providers:\n  modal: {imagee: x}\n')).toMatch(/providers\.modal: unknown key imagee/);
    expect(refusal('providers:\n  daytona: {snapshott: x}\n')).toMatch(/providers\.daytona: unknown key snapshott/);
  });

  it('an unknown provider id names the known ones', () => {
    const msg = refusal('providers:\n  kubernets: {namespace: x}\n');
    expect(msg).toContain('providers.kubernets: unknown provider "kubernets"');
    for (const id of PROVIDER_IDS) expect(msg).toContain(id);
  });

  it('an unknown key under a provider names the key', () => {
    expect(refusal('providers:\n  docker: {imagee: x}\n')).toMatch(/providers\.docker: unknown key imagee/);
    expect(refusal('providers:\n  local: {workspace_dir: /tmp}\n')).toMatch(
      /providers\.local: unknown key workspace_dir/,
    );
    expect(refusal('providers:\n  pool: {pool: {}}\n')).toMatch(/providers\.pool: unknown key pool/);
    expect(refusal('providers:\n  docker: {suspend_config: {strategy: freeze}}\n')).toMatch(
      /providers\.docker: suspend_config\.strategy: /,
    );
  });

  it("the seed's docker section is accepted, and its suspend_config is the docker pools' default", () => {
    const c = load(SEED_DOCKER);
    expect(defaultSuspendConfig('docker', c.providers)).toEqual({
      strategy: 'pause',
      fallback: 'terminate_preserve_storage',
      minDurationMs: 60_000,
      maxDurationMs: 24 * 3_600_000,
    });
    // Without one, the descriptor's default (no minimum).
    expect(defaultSuspendConfig('docker', load('{}\n').providers).minDurationMs).toBe(0);
  });

  it('a bad duration in a provider suspend_config names the key', () => {
    const c = load('providers:\n  docker: {suspend_config: {min_duration: soon}}\n');
    expect(() => defaultSuspendConfig('docker', c.providers)).toThrow(
      /providers\.docker\.suspend_config\.min_duration: "soon" is not a duration/,
    );
  });

  it("the seed's providers.pool.pools become pool-mode pools", () => {
    const c = load(
      'providers:\n  pool:\n    pools:\n      macos: {min_runners: 2, max_runners: 10, selector: {os: darwin, arch: arm64}}\n',
    );
    expect(c.pools.macos).toMatchObject({ mode: 'pool', provider: 'pool', min_runners: 2, max_runners: 10 });
    expect(refusal('providers:\n  pool:\n    pools:\n      macos: {max_runner: 2}\n')).toMatch(
      /providers\.pool\.pools\.macos: .*unknown key max_runner/,
    );
    expect(refusal('pools:\n  macos: {}\nproviders:\n  pool:\n    pools:\n      macos: {}\n')).toContain(
      'pool macos is also declared under pools:',
    );
  });
});
