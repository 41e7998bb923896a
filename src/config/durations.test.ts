/**
 * Durations in marionette.yaml: a bare number is seconds in every duration field, strings with a
 * unit parse, and `providers.pool.pools` (the seed's pool-mode example) reads them like `pools:`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadServerConfig } from './index.js';

let dir = '';
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = '';
});

function load(yaml: string) {
  dir = mkdtempSync(join(tmpdir(), 'marionette-durations-'));
  const file = join(dir, 'marionette.yaml');
  writeFileSync(file, yaml);
  return loadServerConfig({ config: file, home: dir }, {});
}

describe('durations in the config', () => {
  it("the seed's providers.pool.pools.macos.idle_timeout: 300 is five minutes", () => {
    const c = load('providers:\n  pool:\n    pools:\n      macos: {labels: {os: darwin}, idle_timeout: 300}\n');
    expect(c.pools.macos?.idle_timeout).toBe(300_000);
  });

  it('idle_timeout: 5m (as docs/pools.md writes it) is five minutes, not an error', () => {
    const c = load(
      'providers:\n  pool:\n    pools:\n      macos: {idle_timeout: 5m, suspend_config: {min_duration: 60, max_duration: 24h}}\n',
    );
    const macos = c.pools.macos!;
    expect(macos.idle_timeout).toBe(300_000);
    expect(macos.suspend_config).toMatchObject({ min_duration: 60_000, max_duration: 86_400_000 });
  });

  it('a bad duration under providers.pool.pools names its key', () => {
    expect(() => load('providers:\n  pool:\n    pools:\n      macos: {idle_timeout: soon}\n')).toThrow(
      /providers\.pool\.pools\.macos\.idle_timeout: invalid duration "soon"/,
    );
    expect(() => load('providers:\n  pool:\n    pools:\n      macos: {idle_timout: 5m}\n')).toThrow(
      /providers\.pool\.pools\.macos: unknown key idle_timout/,
    );
  });

  it('every duration field reads a bare number as seconds and a unit as written', () => {
    const c = load(
      [
        'runners: {heartbeat_interval: 2, lease_timeout: 1m}',
        'sessions: {idle_timeout: 90, preempt_min_idle: 1500ms}',
        'tasks: {default_timeout: 2h}',
        'limits: {api: {header_timeout: 3, request_timeout: 1d}, gateway: {hello_timeout: 4, invalid_frame_window: 2m}}',
        'agents:',
        '  mine: {command: [echo], task_timeout: 30}',
        'pools:',
        '  p: {provider: local, idle_timeout: 45, suspend_config: {min_duration: 10s, max_duration: 3600}}',
        'profiles:',
        '  big: {task_timeout: 7}',
        '',
      ].join('\n'),
    );
    expect(c.heartbeatIntervalMs).toBe(2000);
    expect(c.leaseTimeoutMs).toBe(60_000);
    expect(c.sessionIdleTimeoutMs).toBe(90_000);
    expect(c.preemptMinIdleMs).toBe(1500);
    expect(c.taskTimeoutMs).toBe(7_200_000);
    expect(c.limits.api.headerTimeoutMs).toBe(3000);
    expect(c.limits.api.requestTimeoutMs).toBe(86_400_000);
    expect(c.limits.gateway.helloTimeoutMs).toBe(4000);
    expect(c.limits.gateway.invalidFrameWindowMs).toBe(120_000);
    expect(c.agents.mine?.task_timeout).toBe(30_000);
    expect(c.pools.p?.idle_timeout).toBe(45_000);
    expect(c.pools.p?.suspend_config).toMatchObject({ min_duration: 10_000, max_duration: 3_600_000 });
    expect(c.profiles.big?.task_timeout).toBe(7000);
  });

  it('a zero-length limit is refused, naming the key', () => {
    expect(() => load('limits: {gateway: {hello_timeout: 0}}\n')).toThrow(
      /limits\.gateway\.hello_timeout: invalid duration 0 \(expected a positive duration/,
    );
  });
});
