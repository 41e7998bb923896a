/** @module Docker provider config: defaults, errors naming the bad key, quantity and address parsing. */
import { describe, expect, it } from 'vitest';
import { InvalidRequest } from '../../core/errors.js';
import { DOCKER_CAPABILITIES } from './capabilities.js';
import {
  mergeDockerConfig,
  parseDockerConfig,
  parseEngineAddress,
  parseMemoryBytes,
  parseNanoCpus,
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
