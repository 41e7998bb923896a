/** @module Docker provider config: defaults, errors naming the bad key, quantity and address parsing. */
import { describe, expect, it } from 'vitest';
import { InvalidRequest } from '../../core/errors.js';
import { DOCKER_CAPABILITIES } from './capabilities.js';
import {
  imageRefusal,
  mergeDockerConfig,
  parseDockerConfig,
  parseEngineAddress,
  parseMemoryBytes,
  parseNanoCpus,
  refuseSessionAsks,
  wantsSnapshot,
} from './config.js';

describe('docker provider config', () => {
  it('applies the documented defaults', () => {
    const c = parseDockerConfig({});
    expect(c).toMatchObject({
      host: 'unix:///var/run/docker.sock',
      image: 'marionette/agent:latest',
      network: 'marionette',
      labelPrefix: 'io.marionette',
      pidsLimit: 512,
      user: '1000:1000',
      readOnlyRootfs: true,
      tmpfsSize: '256m',
      mountAgent: true,
      resources: {},
    });
  });

  it('accepts the seed example', () => {
    const c = parseDockerConfig({
      host: 'unix:///var/run/docker.sock',
      image: 'marionette/agent:latest',
      network: 'marionette-network',
      resources: { memory: '4g', cpus: '2' },
      suspend_config: {
        strategy: 'pause',
        fallback: 'terminate_preserve_storage',
        min_duration: '60s',
        max_duration: '24h',
      },
    });
    expect(c.network).toBe('marionette-network');
    expect(wantsSnapshot(c)).toBe(false);
  });

  it.each([
    [{ resources: { memory: 'lots' } }, 'resources.memory'],
    [{ resources: { cpus: 'two' } }, 'resources.cpus'],
    [{ user: '0:0' }, 'user'],
    [{ host: 'ftp://x' }, 'host'],
    [{ pidsLimit: -1 }, 'pidsLimit'],
    [{ colour: 'red' }, 'colour'],
    [{ command: [] }, 'command'],
    [{ suspend_config: { strategy: 'hibernate' } }, 'suspend_config.strategy'],
  ])('names the bad key in %j', (input, key) => {
    const err = (() => {
      try {
        parseDockerConfig(input);
      } catch (e: unknown) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(InvalidRequest);
    expect((err as Error).message).toContain(`${key}:`);
  });

  it('merges a pool sandbox_config over the provider config but refuses another host', () => {
    const base = parseDockerConfig({ resources: { memory: '4g', cpus: '2' } });
    const m = mergeDockerConfig(base, { resources: { cpus: '1' }, network: 'none' });
    expect(m.resources).toEqual({ memory: '4g', cpus: '1' });
    expect(m.network).toBe('none');
    expect(() => mergeDockerConfig(base, { host: 'tcp://127.0.0.1:2375' })).toThrow(/host/);
  });

  it('parses docker-style memory sizes with binary units', () => {
    expect(parseMemoryBytes('4g')).toBe(4 * 1024 ** 3);
    expect(parseMemoryBytes('512m')).toBe(512 * 1024 ** 2);
    expect(parseMemoryBytes('2Gi')).toBe(2 * 1024 ** 3);
    expect(parseMemoryBytes('1024')).toBe(1024);
    expect(() => parseMemoryBytes('4x')).toThrow(InvalidRequest);
  });

  it('parses CPU counts to NanoCpus', () => {
    expect(parseNanoCpus('2')).toBe(2e9);
    expect(parseNanoCpus('0.5')).toBe(5e8);
    expect(parseNanoCpus(1.5)).toBe(1.5e9);
    expect(() => parseNanoCpus('0')).toThrow(InvalidRequest);
  });

  it('parses unix and tcp engine addresses', () => {
    expect(parseEngineAddress('unix:///var/run/docker.sock')).toMatchObject({
      kind: 'unix',
      socketPath: '/var/run/docker.sock',
    });
    expect(parseEngineAddress('tcp://127.0.0.1:2375')).toMatchObject({ kind: 'tcp', host: '127.0.0.1', port: 2375 });
  });

  it('turns on a writable rootfs only for snapshot pools', () => {
    expect(wantsSnapshot(parseDockerConfig({ suspend_config: { strategy: 'snapshot' } }))).toBe(true);
    expect(wantsSnapshot(parseDockerConfig({ suspend_config: { strategy: 'pause', fallback: 'snapshot' } }))).toBe(
      true,
    );
  });

  it('declares the seed row of the capability matrix', () => {
    expect(DOCKER_CAPABILITIES).toMatchObject({
      transportModel: 'either',
      supportsFsSnapshot: false,
      supportsPauseResume: false,
      supportsCapacityQuery: true,
      supportsGpu: false,
      supportsCustomNetworkPolicy: true,
      idleCostModel: 'zero',
      billingModel: 'fixed',
      maxSessionDurationSeconds: null,
      egressDefault: 'allow-all',
    });
  });
});

describe('what a session may ask of a docker pool', () => {
  const cfg = (allowedImages?: string[]) =>
    parseDockerConfig({ image: 'marionette/agent:latest', ...(allowedImages ? { allowedImages } : {}) });

  it('allowedImages: unset admits any image, [] only the pool own, patterns by exact ref or prefix*', () => {
    expect(imageRefusal(cfg(), 'anything:1')).toBeNull();
    expect(imageRefusal(cfg([]), 'marionette/agent:latest')).toBeNull();
    expect(imageRefusal(cfg([]), 'other:1')).toMatch(/allows no image but its own \(marionette\/agent:latest/);
    const listed = cfg(['ghcr.io/acme/*', 'golang:1.22']);
    expect(imageRefusal(listed, 'ghcr.io/acme/go:1')).toBeNull();
    expect(imageRefusal(listed, 'golang:1.22')).toBeNull();
    expect(imageRefusal(listed, 'golang:1.23')).toMatch(
      /not in this pool's allowedImages \(ghcr\.io\/acme\/\*, golang:1\.22\)/,
    );
    expect(imageRefusal(listed, 'ghcr.io/acmex/go:1')).not.toBeNull();
  });

  it('refuses a disallowed session image and a GPU, naming them; a restored snapshot is not checked', () => {
    expect(() => refuseSessionAsks(cfg([]), { image: 'evil:1' }, 'evil:1')).toThrow(
      /docker provider: image evil:1 is refused/,
    );
    expect(() => refuseSessionAsks(cfg([]), { image: 'evil:1' }, 'marionette-snapshot:x')).not.toThrow();
    expect(() => refuseSessionAsks(cfg(), { resources: { gpu: '1' } }, 'x')).toThrow(
      /asks for gpu 1; this provider runs no GPU/,
    );
    expect(() => refuseSessionAsks(cfg(), { resources: { gpu: '0' } }, 'x')).not.toThrow();
  });
});
