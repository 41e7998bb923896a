/**
 * @module The daytona provider's failures, through the official SDK against the Daytona API
 * stand-in: a refused API key, no credential at all, a quota refusal, an unknown snapshot, a
 * rate limit that passes after backoff and one that does not, and an agent that cannot be started
 * in a created sandbox (which is then deleted) each give an error naming Daytona's own message and
 * never the key; on a server whose key Daytona refuses, the pool is unavailable and a session
 * waits with that reason.
 * `execCommand` runs through the toolbox process API.
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidRequest, ProviderUnavailable } from '../src/core/errors.js';
import type { DaytonaProviderConfigInput } from '../src/providers/daytona/config.js';
import { DaytonaSandboxProvider } from '../src/providers/daytona/provider.js';
import { dockerDescribe, makeSpec } from '../src/providers/docker/docker.test-support.js';
import type { SandboxHandle } from '../src/providers/types.js';
import { type DaytonaTarget, daytonaTarget } from './daytona.support.js';
import { createSession, getSession, type SessionObj } from './docker.support.js';
import { startServer, until } from './harness.js';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

dockerDescribe('daytona provider failures (Daytona API stand-in)', () => {
  let target: DaytonaTarget;
  /** A loopback port nothing listens on: these sandboxes' agents never reach a gateway, and need not. */
  let deadPort: number;
  const providers: DaytonaSandboxProvider[] = [];
  const handles: Array<{ p: DaytonaSandboxProvider; h: SandboxHandle }> = [];

  const provider = (env: Record<string, string>, over: Partial<DaytonaProviderConfigInput> = {}) => {
    const p = new DaytonaSandboxProvider(target.config(deadPort, over), { env });
    providers.push(p);
    return p;
  };
  const sandboxCount = () => target.standin.engine.sandboxes.size;
  const creates = () => target.standin.calls.filter((c) => c === 'POST /sandbox').length;

  beforeAll(async () => {
    target = await daytonaTarget();
    deadPort = await freePort();
  }, 300_000);

  afterAll(async () => {
    for (const { p, h } of handles) await p.terminate(h).catch(() => {});
    for (const p of providers) await p.close();
    const left = await target.standin.leftovers();
    await target.close();
    expect(left).toEqual([]);
  }, 120_000);

  it('a refused API key names Daytona’s message and the fix, never the key', async () => {
    const wrong = 'dtn_wrong_key_0123456789';
    const err = await provider({ ...target.env, DAYTONA_API_KEY: wrong })
      .provision(makeSpec())
      .then(
        () => new Error('the provision succeeded'),
        (e: unknown) => e as Error,
      );
    expect(err).toBeInstanceOf(ProviderUnavailable);
    expect(err.message).toContain('Daytona refused the API key (401)');
    expect(err.message).toContain('Invalid credentials');
    expect(err.message).toContain('DAYTONA_API_KEY');
    expect(err.message).not.toContain(wrong);
    expect(sandboxCount()).toBe(0);
  });

  it('no credential at all says which variables and command give one', async () => {
    const err = await provider({})
      .provision(makeSpec({ orgId: 'org-nocred' }))
      .then(
        () => new Error('the provision succeeded'),
        (e: unknown) => e as Error,
      );
    expect(err).toBeInstanceOf(ProviderUnavailable);
    expect(err.message).toContain('no Daytona credential for org org-nocred');
    expect(err.message).toContain('mctl credentials set daytona');
  });

  it('a quota refusal (403) and an unknown snapshot carry Daytona’s message', async () => {
    target.standin.fail('create', { status: 403, message: 'Total CPU quota exceeded. Maximum allowed: 4' });
    const quota = await provider(target.env)
      .provision(makeSpec())
      .then(
        () => new Error('the provision succeeded'),
        (e: unknown) => e as Error,
      );
    expect(quota).toBeInstanceOf(ProviderUnavailable);
    expect(quota.message).toMatch(
      /Daytona refused creating sandbox .* \(403: forbidden or over the organization's quota\)/,
    );
    expect(quota.message).toContain('Total CPU quota exceeded. Maximum allowed: 4');

    const snap = await provider(target.env, { snapshot: 'no-such-snapshot' })
      .provision(makeSpec())
      .then(
        () => new Error('the provision succeeded'),
        (e: unknown) => e as Error,
      );
    expect(snap).toBeInstanceOf(InvalidRequest);
    expect(snap.message).toContain('from snapshot "no-such-snapshot"');
    expect(snap.message).toContain('Snapshot no-such-snapshot not found');
    expect(sandboxCount()).toBe(0);
  });

  it('a rate limit is retried with backoff (Retry-After) and the provision goes through', async () => {
    const p = provider(target.env);
    const before = creates();
    target.standin.fail('create', { status: 429, message: 'Rate limit exceeded', times: 2, retryAfter: 0 });
    const h = await p.provision(makeSpec());
    handles.push({ p, h });
    expect(creates() - before).toBe(3);
    expect(await p.status(h)).toBe('running');
    await p.terminate(h);
    expect(await p.status(h)).toBe('terminated');
  });

  it('a rate limit while the SDK waits for the start does not create a second sandbox', async () => {
    const p = provider(target.env);
    const before = creates();
    target.standin.fail('get', { status: 429, message: 'Rate limit exceeded', times: 1, retryAfter: 0 });
    const h = await p.provision(makeSpec());
    handles.push({ p, h });
    expect(creates() - before).toBe(1);
    expect(await p.status(h)).toBe('running');
    await p.terminate(h);
  });

  it('a rate limit that outlasts the retries fails with Daytona’s message', async () => {
    const p = provider(target.env, { rateLimitRetries: 1 });
    const before = creates();
    target.standin.fail('create', { status: 429, message: 'Rate limit exceeded', times: 5, retryAfter: 0 });
    const err = await p.provision(makeSpec()).then(
      () => new Error('the provision succeeded'),
      (e: unknown) => e as Error,
    );
    target.standin.fail('create', { status: 429, message: 'x', times: 0 });
    expect(creates() - before).toBe(2);
    expect(err.message).toContain('Daytona rate limit (429)');
    expect(err.message).toContain('Rate limit exceeded');
    expect(sandboxCount()).toBe(0);
  });

  it('a sandbox made but whose agent cannot be started is deleted (nothing left halfway)', async () => {
    target.standin.fail('session-exec', { status: 500, message: 'toolbox daemon not ready' });
    const err = await provider(target.env)
      .provision(makeSpec())
      .then(
        () => new Error('the provision succeeded'),
        (e: unknown) => e as Error,
      );
    expect(err.message).toContain('starting marionette-agent in sandbox');
    expect(err.message).toContain('toolbox daemon not ready');
    expect(sandboxCount()).toBe(0);
    expect(await target.standin.leftovers()).toEqual([]);
  });

  it('execCommand runs a shell command in the sandbox through the toolbox process API', async () => {
    const p = provider(target.env);
    const h = await p.provision(makeSpec());
    handles.push({ p, h });
    const r = await p.execCommand(h, 'echo "$GREETING"; pwd; echo to-stderr >&2; exit 3', { GREETING: "it's me" });
    expect(r.exitCode).toBe(3);
    expect(r.stdout.split('\n').filter(Boolean)).toEqual(["it's me", '/workspace', 'to-stderr']);
    await p.terminate(h);
  });

  describe('a server whose Daytona key is refused', () => {
    it('keeps the session waiting with the 401 reason (its pool unavailable), and no secret in it', async () => {
      const gatewayPort = await freePort();
      const wrong = 'dtn_refused_key_abcdef';
      const srv = await startServer({
        gatewayPort,
        env: { ...target.env, DAYTONA_API_KEY: wrong },
        config: [
          'providers:',
          `  daytona: ${JSON.stringify(target.config(gatewayPort))}`,
          'pools:',
          '  dt: {provider: daytona, mode: managed, max_runners: 1}',
          '',
        ].join('\n'),
      });
      try {
        const created = await createSession(srv, { pool: 'dt', prompt: 'true' });
        let seen: SessionObj | undefined;
        await until(
          async () => {
            seen = await getSession(srv, created.id);
            return (seen.stateReason ?? '').includes('(401)');
          },
          'the session to carry the 401 reason',
          60_000,
        ).catch(() => {});
        expect(seen?.stateReason).toContain('Daytona refused the API key (401)');
        expect(seen?.stateReason).not.toContain(wrong);
        // Its pools are unavailable (the health probe lists with that key): the session waits, nothing is provisioned.
        expect(seen?.state).toBe('scheduling');
        expect(seen?.stateReason).toContain('provider_unavailable');
      } finally {
        await srv.destroy();
      }
    }, 180_000);
  });
});
