/**
 * @module The vercel provider's failures, through the official SDK against the Vercel Sandbox
 * stand-in: a refused token, no credential, a token without its team and project, a quota
 * refusal, an unknown image, a rate limit that passes after backoff and one that does not, and a
 * sandbox made whose agent cannot be started (which is then deleted) each give an error naming
 * Vercel's own message and never the token. `execCommand` runs through Vercel's command API and
 * refuses a stopped sandbox; `fence` stops a sandbox at once.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Conflict, InvalidRequest, ProviderUnavailable } from '../src/core/errors.js';
import { dockerDescribe, makeSpec } from '../src/providers/docker/docker.test-support.js';
import type { SandboxHandle } from '../src/providers/types.js';
import type { VercelProviderConfigInput } from '../src/providers/vercel/config.js';
import { VercelSandboxProvider } from '../src/providers/vercel/provider.js';
import { freePort, type VercelTarget, vercelTarget } from './vercel.support.js';

dockerDescribe('vercel provider failures (Vercel Sandbox stand-in)', () => {
  let target: VercelTarget;
  /** A loopback port nothing listens on: these sandboxes' agents never reach a gateway, and need not. */
  let deadPort: number;
  const handles: Array<{ p: VercelSandboxProvider; h: SandboxHandle }> = [];

  const provider = (credential: Record<string, string>, over: Partial<VercelProviderConfigInput> = {}) =>
    new VercelSandboxProvider(target.config(deadPort, over), { credential, backoffBaseMs: 10 });
  const creates = () => target.standin.api.seen.filter((c) => c === 'POST /v3/sandboxes').length;
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => new Error('the call succeeded'),
      (e: unknown) => e as Error,
    );

  beforeAll(async () => {
    target = await vercelTarget();
    deadPort = await freePort();
  }, 300_000);

  afterAll(async () => {
    for (const { p, h } of handles) await p.terminate(h).catch(() => {});
    const left = await target.standin.leftovers();
    await target.close();
    expect(left).toEqual([]);
  }, 120_000);

  it('a refused token names Vercel’s message and the fix, never the token', async () => {
    const wrong = 'vercel_wrong_token_0123456789';
    const err = await failure(provider({ ...target.standin.credential, token: wrong }).provision(makeSpec()));
    expect(err).toBeInstanceOf(ProviderUnavailable);
    expect(err.message).toContain('Vercel refused the token (403)');
    expect(err.message).toContain('the token is invalid or expired');
    expect(err.message).toContain('VERCEL_TOKEN');
    expect(err.message).not.toContain(wrong);
    expect(target.sandboxes()).toEqual([]);
  });

  it('no credential, or a token without its team and project, says which variables and command give one', async () => {
    const none = await failure(provider({}).provision(makeSpec({ orgId: 'org-nocred' })));
    expect(none).toBeInstanceOf(ProviderUnavailable);
    expect(none.message).toContain('no Vercel credential for org org-nocred');
    expect(none.message).toContain('mctl credentials set vercel');
    const half = await failure(provider({ token: 'vercel_token_alone' }).provision(makeSpec({ orgId: 'org-half' })));
    expect(half.message).toContain('has a token but no teamId (VERCEL_TEAM_ID) and projectId (VERCEL_PROJECT_ID)');
    expect(half.message).not.toContain('vercel_token_alone');
  });

  it('a quota refusal (402) and an unknown image carry Vercel’s message', async () => {
    target.standin.fail({
      match: /^POST \/v3\/sandboxes$/,
      status: 402,
      code: 'payment_required',
      message: 'You have reached the concurrent sandboxes limit of your plan',
    });
    const quota = await failure(provider(target.standin.credential).provision(makeSpec()));
    expect(quota).toBeInstanceOf(ProviderUnavailable);
    expect(quota.message).toMatch(/Vercel refused creating sandbox \S+ from image "marionette-agent" \(402/);
    expect(quota.message).toContain('concurrent sandboxes limit of your plan');

    const image = await failure(provider(target.standin.credential, { image: 'no-such-image' }).provision(makeSpec()));
    expect(image).toBeInstanceOf(InvalidRequest);
    expect(image.message).toContain('from image "no-such-image"');
    expect(image.message).toContain('image no-such-image not found');
    expect(target.sandboxes()).toEqual([]);
  });

  it('a rate limit is retried with backoff past the SDK’s own retries, and the provision goes through', async () => {
    const p = provider(target.standin.credential);
    const before = creates();
    // The SDK retries a 429 twice itself (3 requests); five refusals need the provider's backoff too.
    target.standin.fail({
      match: /^POST \/v3\/sandboxes$/,
      status: 429,
      message: 'Too many requests',
      times: 5,
      retryAfter: 0,
    });
    const h = await p.provision(makeSpec());
    handles.push({ p, h });
    expect(creates() - before).toBeGreaterThan(3);
    expect(await p.status(h)).toBe('running');
    await p.terminate(h);
    expect(await p.status(h)).toBe('terminated');
  });

  it('a rate limit that outlasts the retries fails with Vercel’s message', async () => {
    const p = provider(target.standin.credential, { rateLimitRetries: 1 });
    target.standin.fail({
      match: /^POST \/v3\/sandboxes$/,
      status: 429,
      message: 'Too many requests',
      times: 50,
      retryAfter: 0,
    });
    const err = await failure(p.provision(makeSpec()));
    target.standin.api.faults.length = 0;
    expect(err).toBeInstanceOf(ProviderUnavailable);
    expect(err.message).toContain('Vercel rate limit (429)');
    expect(err.message).toContain('Too many requests');
    expect(target.sandboxes()).toEqual([]);
  });

  it('a sandbox made but whose agent cannot be started is deleted (nothing left halfway)', async () => {
    target.standin.fail({
      match: /^POST \/v2\/sandboxes\/sessions\/[^/]+\/cmd$/,
      status: 500,
      message: 'the sandbox VM is unreachable (stand-in)',
      times: 3,
    });
    const before = creates();
    const err = await failure(provider(target.standin.credential).provision(makeSpec()));
    expect(creates() - before).toBe(1);
    expect(err.message).toContain('preparing sandbox');
    expect(err.message).toContain('the sandbox VM is unreachable (stand-in)');
    expect(target.sandboxes()).toEqual([]);
    expect(await target.standin.leftovers()).toEqual([]);
  });

  it('execCommand runs a shell command in the workspace through Vercel’s command API, and refuses a stopped sandbox', async () => {
    const p = provider(target.standin.credential);
    const h = await p.provision(makeSpec());
    handles.push({ p, h });
    const r = await p.execCommand(h, 'echo "$GREETING"; pwd; echo to-stderr >&2; exit 3', { GREETING: "it's me" });
    expect(r).toEqual({ exitCode: 3, stdout: "it's me\n/workspace\n", stderr: 'to-stderr\n' });
    // Fencing stops the session at once (a lost runner's attempt never runs beside its retry).
    const other = await p.provision(makeSpec());
    handles.push({ p, h: other });
    await p.fence(other);
    expect(await p.status(other)).toBe('terminated');
    await p.fence(other);
    await p.terminate(other);
    const snapped = await p.snapshot(h);
    expect(typeof snapped.metadata.snapshotId).toBe('string');
    const refused = await failure(p.execCommand(snapped, 'true'));
    expect(refused).toBeInstanceOf(Conflict);
    expect(refused.message).toContain('is stopped; resume the session first');
    await p.terminate(snapped);
    expect(target.sandboxes()).toEqual([]);
    expect([...target.standin.sandboxes.snapshots.values()].filter((s) => s.status === 'created')).toEqual([]);
  });
});
