/**
 * Daytona's errors as session reasons, the rate-limit backoff, the state mapping and the config
 * merge: pure functions, checked exhaustively here; the SDK against the stand-in is in
 * test/daytona.*.e2e.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { InvalidRequest, ProviderUnavailable } from '../../core/errors.js';
import { mergeDaytonaConfig, parseDaytonaConfig } from './config.js';
import { credentialFromEnv } from './credentials.js';
import { daytonaFailure, retryDelayMs, withDaytona } from './errors.js';
import { parseSnapshotName, sandboxName, snapshotName } from './labels.js';
import { statusOfState } from './provider.js';

const vendor = (statusCode: number | undefined, message: string, headers: Record<string, string> = {}) =>
  Object.assign(new Error(message), {
    statusCode,
    headers,
    name: statusCode ? 'DaytonaError' : 'DaytonaConnectionError',
  });

describe('daytonaFailure', () => {
  it('names the status, what was being done and the vendor message, with the right class', () => {
    const cases: Array<[number | undefined, RegExp, unknown]> = [
      [401, /^Daytona refused the API key \(401\) while creating x: bad key; set DAYTONA_API_KEY/, ProviderUnavailable],
      [
        403,
        /^Daytona refused creating x \(403: forbidden or over the organization's quota\): bad key$/,
        ProviderUnavailable,
      ],
      [
        429,
        /^Daytona rate limit \(429\) while creating x, still limited after retrying: bad key$/,
        ProviderUnavailable,
      ],
      [400, /^Daytona refused creating x \(400\): bad key$/, InvalidRequest],
      [404, /^Daytona refused creating x \(404\): bad key$/, InvalidRequest],
      [500, /^Daytona failed creating x \(500\): bad key$/, ProviderUnavailable],
      [undefined, /^Daytona API unreachable at http:\/\/d while creating x: bad key$/, ProviderUnavailable],
    ];
    for (const [status, re, cls] of cases) {
      const e = daytonaFailure(vendor(status, 'bad key'), 'creating x', 'http://d');
      expect(e.message, String(status)).toMatch(re);
      expect(e, String(status)).toBeInstanceOf(cls as never);
    }
  });
});

describe('rate limits', () => {
  it('wait Retry-After when given, else 1 s, 2 s, 4 s ... at most 30 s', () => {
    expect(retryDelayMs(vendor(429, 'x', { 'retry-after': '3' }), 1)).toBe(3000);
    expect(retryDelayMs(vendor(429, 'x'), 1)).toBe(1000);
    expect(retryDelayMs(vendor(429, 'x'), 3)).toBe(4000);
    expect(retryDelayMs(vendor(429, 'x'), 10)).toBe(30_000);
    expect(retryDelayMs(vendor(429, 'x', { 'retry-after': '3600' }), 1)).toBe(30_000);
  });

  it('are retried up to the limit, other errors never', async () => {
    const waits: number[] = [];
    let calls = 0;
    const ok = await withDaytona(
      'x',
      async () => {
        calls++;
        if (calls < 3) throw vendor(429, 'slow down');
        return 'done';
      },
      { retries: 4, sleep: async (ms) => void waits.push(ms) },
    );
    expect({ ok, calls, waits }).toEqual({ ok: 'done', calls: 3, waits: [1000, 2000] });
    calls = 0;
    await expect(
      withDaytona(
        'x',
        async () => {
          calls++;
          throw vendor(403, 'quota');
        },
        { retries: 4, sleep: async () => {} },
      ),
    ).rejects.toThrow(/403/);
    expect(calls).toBe(1);
  });
});

describe('state, config and credential', () => {
  it('maps every Daytona state', () => {
    expect(statusOfState('started')).toBe('running');
    expect(statusOfState('creating')).toBe('provisioning');
    expect(statusOfState('pulling_snapshot')).toBe('provisioning');
    for (const s of ['stopped', 'archived', 'destroyed', 'stopping']) expect(statusOfState(s)).toBe('terminated');
    expect(statusOfState('error')).toBe('failed');
    expect(statusOfState('build_failed')).toBe('failed');
  });

  it('merges a pool sandbox_config over the section and names a bad key', () => {
    const base = parseDaytonaConfig({ snapshot: 's1', resources: { cpu: 2 }, env: { A: '1' } });
    const m = mergeDaytonaConfig(base, { resources: { memory: 4 }, env: { B: '2' } });
    expect(m).toMatchObject({ snapshot: 's1', resources: { cpu: 2, memory: 4 }, env: { A: '1', B: '2' } });
    expect(() => mergeDaytonaConfig(base, { snapshott: 'x' })).toThrow(/sandbox_config: .*snapshott/);
    expect(() => parseDaytonaConfig({ resources: { cpu: -1 } })).toThrow(/providers.daytona: resources.cpu/);
    expect(parseDaytonaConfig({})).toMatchObject({ autoStopMinutes: 0, workspace: '/workspace', rateLimitRetries: 4 });
  });

  it('names sandboxes and suspend snapshots so their owners can be read back', () => {
    expect(sandboxName('run_0ABC')).toBe('marionette-run-0abc');
    const name = snapshotName('ses_0abc12', 'run_0def34');
    expect(name).toBe('marionette-suspend-ses-0abc12-run-0def34');
    expect(parseSnapshotName(name)).toEqual({ session: 'ses_0abc12', runner: 'run_0def34' });
    expect(parseSnapshotName(snapshotName(null, 'run_0x'))).toEqual({ session: '', runner: 'run_0x' });
    expect(parseSnapshotName('marionette-agent')).toBeNull();
    expect(parseSnapshotName('marionette-suspend-x')).toBeNull();
  });

  it('reads the environment fallback; no key is no credential', () => {
    expect(credentialFromEnv({})).toBeNull();
    expect(credentialFromEnv({ DAYTONA_API_KEY: ' ' })).toBeNull();
    expect(credentialFromEnv({ DAYTONA_API_KEY: 'k', DAYTONA_TARGET: 'eu' })).toEqual({
      apiKey: 'k',
      apiUrl: 'https://app.daytona.io/api',
      target: 'eu',
    });
  });
});
