/**
 * The `limits:` section: defaults, overrides, and bad values refused with the key named.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadServerConfig } from './index.js';
import { DEFAULT_LIMITS } from './limits.js';

let dir = '';
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = '';
});

function load(yaml: string) {
  dir = mkdtempSync(join(tmpdir(), 'marionette-limits-'));
  const file = join(dir, 'marionette.yaml');
  writeFileSync(file, yaml);
  return loadServerConfig({ config: file, home: dir }, {});
}

describe('limits config', () => {
  it('defaults when absent', () => {
    expect(loadServerConfig({ home: '/tmp/x' }, {}).limits).toEqual(DEFAULT_LIMITS);
  });

  it('takes durations and counts, keeping the other defaults', () => {
    const l = load(
      'limits:\n  api: { header_timeout: 2s, max_connections: 20 }\n  gateway: { hello_timeout: 500ms, registration_burst: 3 }\n',
    ).limits;
    expect(l.api.headerTimeoutMs).toBe(2000);
    expect(l.api.maxConnections).toBe(20);
    expect(l.api.maxConnectionsPerIp).toBe(20);
    expect(l.api.requestTimeoutMs).toBe(DEFAULT_LIMITS.api.requestTimeoutMs);
    expect(l.gateway.helloTimeoutMs).toBe(500);
    expect(l.gateway.registrationBurst).toBe(3);
    expect(l.gateway.registrationsPerMinute).toBe(DEFAULT_LIMITS.gateway.registrationsPerMinute);
  });

  it('names the bad key', () => {
    expect(() => load('limits:\n  gateway: { hello_timeout: soon }\n')).toThrow(
      /limits\.gateway\.hello_timeout: invalid duration "soon"/,
    );
    expect(() => load('limits:\n  api: { max_connections: 0 }\n')).toThrow(/limits\.api\.max_connections/);
    expect(() => load('limits:\n  api: { header_timout: 1s }\n')).toThrow(/limits\.api: unknown key header_timout/);
    expect(() => load('limits:\n  gateway: { header_timeout: 1m, request_timeout: 10s }\n')).toThrow(
      'limits.gateway.header_timeout must not be longer than limits.gateway.request_timeout',
    );
  });
});
