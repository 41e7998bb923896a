/**
 * The e2b provider's pure parts: E2B's errors (by the SDK's classes and status codes) as errors
 * naming E2B's message, the rate-limit backoff's waits, and the config schema naming a bad key.
 */
import { AuthenticationError, NotFoundError, RateLimitError, SandboxError, TemplateError } from 'e2b';
import { describe, expect, it } from 'vitest';
import { InvalidRequest, ProviderUnavailable } from '../../core/errors.js';
import { mergeE2bConfig, parseE2bConfig } from './config.js';
import { classify, vendorError, withBackoff } from './errors.js';

function withStatus(code: number, message: string): Error {
  const e = new SandboxError(`${code}: ${message}`);
  (e as { statusCode?: number }).statusCode = code;
  return e;
}

describe('E2B errors', () => {
  it('are classified by the SDK class or the status code', () => {
    expect(classify(new AuthenticationError('Unauthorized'))).toBe('auth');
    expect(classify(new RateLimitError('Rate limit exceeded'))).toBe('rate_limit');
    expect(classify(new TemplateError('update the template'))).toBe('template');
    expect(classify(new NotFoundError('nope'))).toBe('not_found');
    expect(classify(withStatus(403, 'You have reached the maximum number of concurrent E2B sandboxes'))).toBe('quota');
    expect(classify(withStatus(403, 'forbidden'))).toBe('auth');
    expect(classify(withStatus(402, 'payment required'))).toBe('quota');
    expect(classify(withStatus(500, 'boom'))).toBe('other');
    expect(classify('a string')).toBe('other');
  });

  it('become errors naming what was done and E2B’s own message', () => {
    const auth = vendorError(new AuthenticationError('Unauthorized - bad key'), 'starting a sandbox');
    expect(auth).toBeInstanceOf(ProviderUnavailable);
    expect(auth.message).toBe('E2B refused the API key while starting a sandbox: Unauthorized - bad key');
    const tpl = vendorError(new NotFoundError("template 'x' not found"), 'starting a sandbox', 'x');
    expect(tpl).toBeInstanceOf(InvalidRequest);
    expect(tpl.message).toContain('E2B has no template "x"');
    expect(tpl.message).toContain("template 'x' not found");
    // Ours already: passed through unchanged.
    const ours = new InvalidRequest('mine');
    expect(vendorError(ours, 'x')).toBe(ours);
  });
});

describe('rate-limit backoff', () => {
  it('waits base, 2·base, 4·base ... capped at max, then succeeds', async () => {
    const waits: number[] = [];
    let calls = 0;
    const r = await withBackoff(
      async () => {
        calls++;
        if (calls <= 5) throw new RateLimitError('slow down');
        return 'ok';
      },
      { retries: 5, baseMs: 1000, maxMs: 5000, sleep: async (ms) => void waits.push(ms) },
      'listing',
    );
    expect(r).toBe('ok');
    expect(waits).toEqual([1000, 2000, 4000, 5000, 5000]);
  });

  it('gives up after its retries, naming the tries; other errors are not retried', async () => {
    const waits: number[] = [];
    await expect(
      withBackoff(
        async () => {
          throw new RateLimitError('slow down');
        },
        { retries: 2, baseMs: 1, maxMs: 10, sleep: async (ms) => void waits.push(ms) },
        'killing x',
      ),
    ).rejects.toThrow('E2B rate limit while killing x: slow down (gave up after 3 tries)');
    expect(waits).toEqual([1, 2]);
    let calls = 0;
    await expect(
      withBackoff(
        async () => {
          calls++;
          throw withStatus(500, 'boom');
        },
        { retries: 5, baseMs: 1, maxMs: 10, sleep: async () => {} },
        'reading x',
      ),
    ).rejects.toThrow('E2B failed while reading x: 500: boom');
    expect(calls).toBe(1);
  });
});

describe('providers.e2b config', () => {
  it('has its defaults', () => {
    expect(parseE2bConfig({})).toMatchObject({
      template: 'marionette-agent',
      agentCommand: 'marionette-agent',
      workspace: '/home/user/workspace',
      sandboxTimeout: '1h',
      metadataPrefix: 'marionette',
      rateLimitRetries: 5,
    });
  });

  it('names a bad key, in the section and in a pool’s sandbox_config', () => {
    expect(() => parseE2bConfig({ templat: 'x' })).toThrow(/providers\.e2b\..*templat/);
    expect(() => parseE2bConfig({ sandboxTimeout: 'soon' })).toThrow(
      /providers\.e2b\.sandboxTimeout: expected a duration/,
    );
    const base = parseE2bConfig({});
    expect(() => mergeE2bConfig(base, { gateway: 'ws://x' })).toThrow(/sandbox_config\.gateway/);
    expect(mergeE2bConfig(base, { template: 'custom' }).template).toBe('custom');
  });
});
