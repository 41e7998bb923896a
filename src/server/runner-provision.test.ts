/**
 * Provisioning on a pool whose provider is not configured on this server is a ProviderUnavailable
 * (problem+json 503, and the session's reason names the provider), not a plain Error (a 500).
 */
import { describe, expect, it } from 'vitest';
import { type MarionetteError, ProviderUnavailable } from '../core/errors.js';
import type { Pool } from '../core/types.js';
import type { ServerContext } from './context.js';
import { problemFor } from './problem.js';
import { provisionRunner } from './runner-provision.js';

describe('provisionRunner', () => {
  it('refuses a pool whose provider is not configured with ProviderUnavailable, writing nothing', async () => {
    const ctx = { providers: new Map([['local', {}]]), store: {} } as unknown as ServerContext;
    const pool = { id: 'pool_1', name: 'gpu', providerId: 'docker' } as Pool;
    const err = await provisionRunner(ctx, pool, null).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderUnavailable);
    const problem = problemFor(err as MarionetteError);
    expect(problem.status).toBe(503);
    expect(problem.detail).toBe('pool gpu: provider docker is not configured on this server (configured: local)');
    expect(problem.hint).toContain('providers.docker');
  });
});
