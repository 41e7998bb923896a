/**
 * The vercel provider's pure parts: Vercel's errors (read from the SDK's `APIError` shape) as
 * errors naming Vercel's message, the rate-limit waits, the credential's fields (an OIDC token
 * names its team and project), and the config naming a bad key.
 */
import { describe, expect, it } from 'vitest';
import { InvalidRequest, ProviderUnavailable } from '../../core/errors.js';
import { mergeVercelConfig, parseVercelConfig } from './config.js';
import { toVercelCredential } from './credentials.js';
import { retryDelayMs, vercelFailure, withVercel } from './errors.js';

/** An error shaped like the SDK's APIError. */
function apiError(status: number, message: string, code = 'x', retryAfter?: string): Error {
  const e = new Error(`Status code ${status} is not ok: ${message}`) as Error & Record<string, unknown>;
  e.response = { status, headers: { get: (n: string) => (n === 'retry-after' ? (retryAfter ?? null) : null) } };
  e.json = { error: { code, message } };
  return e;
}

describe('Vercel errors', () => {
  it('name what was done, the status and Vercel’s message', () => {
    const auth = vercelFailure(apiError(403, 'Not authorized'), 'creating sandbox s');
    expect(auth).toBeInstanceOf(ProviderUnavailable);
    expect(auth.message).toBe(
      'Vercel refused the token (403) while creating sandbox s: Not authorized; set VERCEL_TOKEN, VERCEL_TEAM_ID and VERCEL_PROJECT_ID in the server environment, or store the org credential with `mctl credentials set vercel`',
    );
    expect(vercelFailure(apiError(402, 'sandbox limit of your plan'), 'x').message).toContain("over the team's quota");
    expect(vercelFailure(apiError(403, 'concurrency limit exceeded'), 'x').message).toContain("over the team's quota");
    const bad = vercelFailure(apiError(400, 'image nope not found', 'bad_request'), 'creating sandbox s');
    expect(bad).toBeInstanceOf(InvalidRequest);
    expect(bad.message).toBe('Vercel refused creating sandbox s (400 bad_request): image nope not found');
    expect(vercelFailure(apiError(503, 'down'), 'x').message).toBe('Vercel failed x (503): down');
    expect(vercelFailure(new TypeError('fetch failed'), 'listing sandboxes').message).toBe(
      'Vercel: listing sandboxes failed: fetch failed',
    );
  });

  it('wait Retry-After when given, else 1 s, 2 s, 4 s ... capped at 30 s', () => {
    expect(retryDelayMs(apiError(429, 'slow down', 'x', '3'), 1)).toBe(3000);
    expect(retryDelayMs(apiError(429, 'slow down'), 1)).toBe(1000);
    expect(retryDelayMs(apiError(429, 'slow down'), 3)).toBe(4000);
    expect(retryDelayMs(apiError(429, 'slow down'), 10)).toBe(30_000);
  });

  it('retry a rate limit only, as many times as allowed', async () => {
    const waits: number[] = [];
    let n = 0;
    const r = await withVercel(
      'x',
      async () => {
        if (n++ < 2) throw apiError(429, 'slow down');
        return 'ok';
      },
      { retries: 2, sleep: async (ms) => void waits.push(ms) },
    );
    expect(r).toBe('ok');
    expect(waits).toEqual([1000, 2000]);
    const e = await withVercel(
      'y',
      async () => {
        throw apiError(429, 'slow down');
      },
      { retries: 1, sleep: async () => {} },
    ).catch((x: Error) => x);
    expect(e.message).toBe('Vercel rate limit (429) while y, still limited after retrying: slow down');
    let calls = 0;
    await withVercel(
      'z',
      async () => {
        calls++;
        throw apiError(500, 'boom');
      },
      { retries: 5, sleep: async () => {} },
    ).catch(() => {});
    expect(calls).toBe(1);
  });
});

describe('Vercel credential', () => {
  it('needs a token, and a team and project unless the token is an OIDC token naming them', () => {
    expect(toVercelCredential(null)).toBeNull();
    expect(toVercelCredential({ token: ' ' })).toBeNull();
    expect(toVercelCredential({ token: 't', teamId: 'team', projectId: 'prj' })).toEqual({
      ok: true,
      cred: { token: 't', teamId: 'team', projectId: 'prj' },
    });
    expect(toVercelCredential({ token: 't', teamId: 'team' })).toEqual({
      ok: false,
      missing: ['projectId (VERCEL_PROJECT_ID)'],
    });
    const claims = Buffer.from(JSON.stringify({ owner_id: 'team_o', project_id: 'prj_o' })).toString('base64url');
    const oidc = `h.${claims}.s`;
    expect(toVercelCredential({ token: oidc })).toEqual({
      ok: true,
      cred: { token: oidc, teamId: 'team_o', projectId: 'prj_o' },
    });
  });
});

describe('Vercel config', () => {
  it('has its defaults and names a bad key', () => {
    const c = parseVercelConfig({ gateway: 'wss://m.example.com:9090' });
    expect(c).toMatchObject({
      image: 'marionette-agent',
      workspace: '/vercel/sandbox',
      sandboxTimeout: '5h',
      namePrefix: 'marionette',
      apiUrl: 'https://vercel.com/api',
    });
    expect(() => parseVercelConfig({ imagee: 'x' })).toThrow('providers.vercel: imagee: unknown key');
    expect(() => parseVercelConfig({ sandboxTimeout: 'soon' })).toThrow(
      'providers.vercel: sandboxTimeout: expected a duration',
    );
    expect(mergeVercelConfig(c, { vcpus: 4, image: 'mine' })).toMatchObject({ vcpus: 4, image: 'mine' });
    expect(() => mergeVercelConfig(c, { gateway: 'x' })).toThrow('sandbox_config: gateway: unknown key (vercel pools)');
  });
});
