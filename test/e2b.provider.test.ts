/**
 * @module The e2b provider's own behaviour against the E2B stand-in (the official SDK talking to
 * it): vendor errors become errors naming E2B's message (a refused key, a missing template, a
 * quota), a rate limit is retried with backoff (and named when it never clears), a provision that
 * fails after the sandbox exists leaves no sandbox, the org's own credential wins over the
 * server's, `execCommand` runs in the workspace through envd, and pause keeps a running process.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { docker, dockerDescribe, makeSpec } from '../src/providers/docker/docker.test-support.js';
import { type E2bProviderOptions, E2bSandboxProvider } from '../src/providers/e2b/provider.js';
import type { SandboxHandle, SandboxSpec } from '../src/providers/types.js';
import { type E2bTarget, e2bPrefix, e2bTarget } from './e2b.support.js';
import { until } from './harness.js';

dockerDescribe('e2b provider against the E2B stand-in', () => {
  const prefix = e2bPrefix();
  let target: E2bTarget;
  const handles: Array<{ p: E2bSandboxProvider; h: SandboxHandle }> = [];

  beforeAll(async () => {
    target = await e2bTarget(prefix);
  }, 300_000);

  afterAll(async () => {
    for (const { p, h } of handles) await p.terminate(h).catch(() => {});
    const left = (await target?.standin?.leftovers()) ?? [];
    await target?.close();
    expect(left).toEqual([]);
  }, 120_000);

  /** A provider whose runners dial a gateway nobody listens on (these tests need no server). */
  const make = (opts: E2bProviderOptions = {}, over: Record<string, unknown> = {}) =>
    new E2bSandboxProvider(target.config(1, over), {
      defaultApiKey: target.apiKey,
      backoff: { baseMs: 10, maxMs: 50 },
      ...opts,
    });
  const spec = (over: Partial<SandboxSpec> = {}) => makeSpec({ config: {}, ...over });
  const provision = async (p: E2bSandboxProvider, s = spec()) => {
    const h = await p.provision(s);
    handles.push({ p, h });
    return h;
  };
  const boxes = () => target.standin!.sandboxes.all.size;

  it('a refused API key is an error naming E2B and its message, and starts nothing', async () => {
    const p = make({ defaultApiKey: 'e2b_wrong' });
    const err = await p.provision(spec()).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain('E2B refused the API key');
    expect((err as Error).message).toContain('Invalid API key');
    expect((err as Error).message).not.toContain('e2b_wrong');
    expect(boxes()).toBe(0);
  });

  it('no key at all names the org and how to set one', async () => {
    const p = new E2bSandboxProvider(target.config(1), { resolveCredential: async () => null });
    await expect(p.provision(spec({ orgId: 'org-nokey' }))).rejects.toThrow(/no E2B API key for org org-nokey/);
  });

  it("the org's own credential wins over the server's key", async () => {
    const seen: string[] = [];
    const p = make({
      defaultApiKey: 'e2b_wrong',
      resolveCredential: async (org) => {
        seen.push(org);
        return { apiKey: target.apiKey };
      },
    });
    const s = spec();
    const h = await provision(p, s);
    expect(seen).toContain(s.orgId);
    expect(await p.status(h)).toBe('running');
    await p.terminate(h);
    expect(await p.status(h)).toBe('terminated');
  });

  it('a template E2B does not have is an InvalidRequest naming it and E2B’s message', async () => {
    const p = make({}, { template: 'no-such-template' });
    await expect(p.provision(spec())).rejects.toThrow(/E2B has no template "no-such-template".*not found/);
    expect(boxes()).toBe(0);
  });

  it('a rate limit is retried with backoff, and named with the tries when it never clears', async () => {
    const before = target.standin!.api.seen.filter((r) => r === 'POST /v2/sandboxes').length;
    target.standin!.fail({ match: /^POST \/v2\/sandboxes$/, status: 429, message: 'Rate limit exceeded', times: 2 });
    const p = make();
    const h = await provision(p);
    expect(target.standin!.api.seen.filter((r) => r === 'POST /v2/sandboxes').length - before).toBe(3);
    await p.terminate(h);

    target.standin!.fail({ match: /^POST \/v2\/sandboxes$/, status: 429, message: 'slow down', times: 10 });
    const q = make({}, { rateLimitRetries: 2 });
    await expect(q.provision(spec())).rejects.toThrow(
      /E2B rate limit while starting a sandbox.*slow down.*gave up after 3 tries/,
    );
    target.standin!.api.faults.length = 0;
    expect(boxes()).toBe(0);
  });

  it('a quota refusal names E2B’s message', async () => {
    target.standin!.fail({
      match: /^POST \/v2\/sandboxes$/,
      status: 403,
      message: 'You have reached the maximum number of concurrent E2B sandboxes (20)',
    });
    await expect(make().provision(spec())).rejects.toThrow(/E2B quota reached.*maximum number of concurrent/);
  });

  it('a provision failing after the sandbox exists kills it before reporting the error', async () => {
    // The agent starts, then reading the new sandbox back fails: the half-made sandbox must go.
    target.standin!.fail({ match: /^GET \/sandboxes\/[^/]+$/, status: 500, message: 'internal error reading sandbox' });
    const err = await make()
      .provision(spec())
      .catch((e: Error) => e);
    expect((err as Error).message).toContain('internal error reading sandbox');
    expect(boxes()).toBe(0);
    expect(await target.standin!.leftovers()).toEqual([]);
  });

  it('execCommand runs in the workspace through envd with its env, and refuses a paused sandbox', async () => {
    const p = make();
    const h = await provision(p);
    const r = await p.execCommand(h, 'pwd; echo "$GREETING"; echo oops >&2; exit 3', { GREETING: 'hello' });
    expect(r).toEqual({ exitCode: 3, stdout: '/workspace\nhello\n', stderr: 'oops\n' });
    await p.pause(h);
    await expect(p.execCommand(h, 'true')).rejects.toThrow(/paused; resume the session first/);
    await p.unpause(h);
    expect((await p.execCommand(h, 'echo back')).stdout).toBe('back\n');
    await p.terminate(h);
    await expect(p.execCommand(h, 'true')).rejects.toThrow(/is gone/);
  });

  it('pause freezes a running process with its memory; resume carries it on', async () => {
    const p = make();
    const h = await provision(p);
    // A counter in memory only, writing each value to the workspace.
    await target.sh(h, '(i=0; while true; do i=$((i+1)); echo $i > /workspace/n; sleep 0.1; done) >/dev/null 2>&1 &');
    const read = async () => Number((await target.sh(h, 'cat /workspace/n')).stdout.trim());
    await until(async () => (await read()) >= 3, 'the counter to start');
    await p.pause(h);
    const box = target.standin!.sandboxes.all.get(h.externalId)!;
    expect(box.state).toBe('paused');
    expect((await docker.getContainer(box.container).inspect()).State.Paused).toBe(true);
    expect(await p.status(h)).toBe('running');
    await p.unpause(h);
    const atResume = await read();
    // Counting on from where it was, not from 1: the same process with its memory.
    expect(atResume).toBeGreaterThanOrEqual(3);
    await until(async () => (await read()) > atResume + 2, 'the counter to carry on');
    await p.terminate(h);
  });
});
