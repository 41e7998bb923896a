/**
 * @module The provider conformance suite: the same cases for every `SandboxProvider`
 * (src/providers/types.ts). A provider's test file calls it once with a target (how to make an
 * instance, how to reach a sandbox's workspace) and the cases it skips, each with its reason:
 *
 * ```ts
 * describeProviderConformance('local', target, { skips: [{ reason: 'no pause on plain processes', cases: ['pause'] }] });
 * ```
 *
 * The sandboxes really run a runner: the suite starts a real server (`marionette serve`, see
 * test/harness.ts), and every provision carries a fresh one-time registration token for a pool of
 * that server (a `pool`-mode pool of its own, so the server never acts on the sandbox itself). A
 * sandbox counts as running when the provider says `running` and its agent has registered and
 * said hello (the pool shows one idle runner).
 *
 * Cases (names for `skips`):
 * - `lifecycle`: provision → running (a runner connected) → terminate → terminated.
 * - `terminate twice`: a second terminate of the same handle resolves.
 * - `metadata`: the handle names the provider and carries the spec's `orgId`.
 * - `suspend strategies`: `supportedSuspendStrategies()` lists exactly the strategies whose
 *   operations exist (pause: pause + unpause; terminate_preserve_storage: stopPreserveStorage +
 *   restore; snapshot: snapshot + restore), and `terminate` always.
 * - `health`: `health()` exists and reports ok while the backend is up.
 * - `preserve storage`: a file written in the workspace is there again after stopPreserveStorage
 *   and restore (on a new sandbox, with a new runner).
 * - `destroy storage`: after destroyStorage the workspace is gone.
 * - `orphans`: after a crash (an instance dropped without terminate), a new instance with the same
 *   install id lists the sandbox and reaps it when its owner is gone, keeps the ones `isLive`
 *   accepts, and never touches another install's.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type SandboxHandle,
  type SandboxProvider,
  type SandboxSpec,
  SUSPEND_STRATEGIES,
  type SuspendStrategy,
} from '../src/providers/types.js';
import { type ServerHandle, startServer, until } from './harness.js';

export const CONFORMANCE_CASES = [
  'lifecycle',
  'terminate twice',
  'metadata',
  'suspend strategies',
  'health',
  'preserve storage',
  'destroy storage',
  'orphans',
] as const;
export type ConformanceCase = (typeof CONFORMANCE_CASES)[number];

export interface ConformanceTarget {
  /**
   * A new provider instance labelling what it starts with `installId`, whose runners dial
   * `server`'s gateway. Instances of one suite share one backend (one home, one engine and label
   * prefix), as two processes of one server would.
   */
  create(ctx: { installId: string; server: ServerHandle }): SandboxProvider | Promise<SandboxProvider>;
  /** The pool's `sandbox_config` in every spec (e.g. the image to run). */
  sandboxConfig?: Record<string, unknown>;
  /**
   * More of the suite server's marionette.yaml, as a server running this backend would have it
   * (e.g. `providers: { docker: {} }`, which opens the gateway socket to the containers' group).
   */
  serverConfig?: string;
  /**
   * How the test reaches a sandbox's workspace, through the backend rather than the provider
   * under test (a host path, a helper container on the volume). `read` is null when the file or
   * the workspace is gone.
   */
  workspace: {
    write(handle: SandboxHandle, file: string, text: string): Promise<void>;
    read(handle: SandboxHandle, file: string): Promise<string | null>;
  };
  /** Before the suite (e.g. build an image). */
  setup?(): Promise<void>;
  /** After the suite: what is left on the backend, as readable names (must be empty). */
  leftovers?(): Promise<string[]>;
  /** How long a sandbox may take to run a connected runner. Default 60 s. */
  readyTimeoutMs?: number;
}

export interface ConformanceOptions {
  /** Cases this provider does not run, each group with the reason (printed). */
  skips?: Array<{ reason: string; cases: ConformanceCase[] }>;
}

/** Which operations each suspend strategy needs. */
const NEEDS: Record<SuspendStrategy, Array<keyof SandboxProvider>> = {
  pause: ['pause', 'unpause'],
  snapshot: ['snapshot', 'restore'],
  terminate_preserve_storage: ['stopPreserveStorage', 'restore'],
  release_to_pool: [],
  terminate: [],
};

const uid = () => randomBytes(4).toString('hex');

export function describeProviderConformance(name: string, target: ConformanceTarget, opts: ConformanceOptions = {}) {
  const skipped = new Map<ConformanceCase, string>();
  for (const s of opts.skips ?? []) for (const c of s.cases) skipped.set(c, s.reason);
  const readyMs = target.readyTimeoutMs ?? 60_000;

  describe(`provider conformance: ${name}`, () => {
    let srv: ServerHandle;
    /** Every handle provisioned, terminated at the end whatever happened. */
    const started: Array<{ provider: SandboxProvider; handle: SandboxHandle }> = [];
    const instances: SandboxProvider[] = [];
    const installId = `ins_conf_${uid()}`;
    let provider: SandboxProvider;

    const make = async (install: string) => {
      const p = await target.create({ installId: install, server: srv });
      instances.push(p);
      return p;
    };

    /** A spec for a sandbox whose runner registers with the suite's server, in a pool of its own. */
    const specFor = async (over: Partial<SandboxSpec> = {}): Promise<SandboxSpec> => {
      const pool = `conf-${uid()}`;
      const created = await srv.api<{ id: string }>('POST', '/v1/pools', {
        name: pool,
        mode: 'pool',
        provider: 'pool',
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const tok = await srv.api<{ token: string }>('POST', '/v1/runners/tokens', { pool, oneTime: true });
      expect(tok.status, JSON.stringify(tok.body)).toBe(201);
      const id = uid();
      return {
        projectId: `proj-${id}`,
        orgId: `org-${id}`,
        registrationToken: tok.body.token,
        env: {},
        config: target.sandboxConfig ?? {},
        runnerId: `run-${id}`,
        poolId: created.body.id,
        poolName: pool,
        sessionId: `ses-${id}`,
        ...over,
      };
    };

    const provision = async (p: SandboxProvider, spec: SandboxSpec) => {
      const handle = await p.provision(spec);
      started.push({ provider: p, handle });
      return handle;
    };

    /** Running: the provider says so, and the sandbox's agent registered and said hello. */
    const running = async (p: SandboxProvider, handle: SandboxHandle, spec: SandboxSpec) => {
      await until(
        async () => {
          if ((await p.status(handle)) !== 'running') return false;
          const r = await srv.api<{ items: Array<{ state: string }> }>('GET', `/v1/runners?pool=${spec.poolName}`);
          return r.body.items.some((x) => x.state === 'idle');
        },
        `the sandbox of ${spec.runnerId} to run a connected runner`,
        readyMs,
      );
    };

    const test = (c: ConformanceCase, fn: () => Promise<void>) => {
      const reason = skipped.get(c);
      if (reason !== undefined) it.skip(`${c} (skipped: ${reason})`, fn);
      else it(c, fn, readyMs * 3);
    };

    beforeAll(async () => {
      await target.setup?.();
      srv = await startServer({ config: `runners: { lease_timeout: 5m }\n${target.serverConfig ?? ''}` });
      provider = await make(installId);
    }, 300_000);

    afterAll(async () => {
      for (const { provider: p, handle } of started.reverse()) {
        await p.terminate(handle).catch(() => {});
        await p.destroyStorage?.(handle).catch(() => {});
      }
      for (const p of instances) await p.close?.();
      await srv?.destroy();
      if (target.leftovers) expect(await target.leftovers()).toEqual([]);
    }, 120_000);

    test('lifecycle', async () => {
      const spec = await specFor();
      const h = await provision(provider, spec);
      await running(provider, h, spec);
      await provider.terminate(h);
      expect(await provider.status(h)).toBe('terminated');
    });

    test('terminate twice', async () => {
      const spec = await specFor();
      const h = await provision(provider, spec);
      await running(provider, h, spec);
      await provider.terminate(h);
      await expect(provider.terminate(h)).resolves.toBeUndefined();
      expect(await provider.status(h)).toBe('terminated');
    });

    test('metadata', async () => {
      const spec = await specFor();
      const h = await provision(provider, spec);
      expect(h.providerId).toBe(provider.id);
      expect(h.metadata.orgId).toBe(spec.orgId);
      expect(typeof h.externalId).toBe('string');
      // The handle survives the store (JSON) unchanged in meaning.
      const again = JSON.parse(JSON.stringify(h)) as SandboxHandle;
      await running(provider, again, spec);
      await provider.terminate(again);
    });

    test('suspend strategies', async () => {
      const listed = provider.supportedSuspendStrategies?.() ?? ['terminate'];
      expect(listed).toContain('terminate');
      for (const s of listed) expect(SUSPEND_STRATEGIES).toContain(s);
      for (const s of SUSPEND_STRATEGIES) {
        const needs = NEEDS[s];
        if (needs.length === 0) continue;
        const has = needs.every((m) => typeof provider[m] === 'function');
        expect(
          { strategy: s, listed: listed.includes(s) },
          `${s} needs ${needs.join(' + ')}: listed only when implemented`,
        ).toEqual({
          strategy: s,
          listed: has,
        });
      }
    });

    test('health', async () => {
      expect(typeof provider.health, 'health() is implemented').toBe('function');
      expect(await provider.health!()).toEqual({ ok: true });
    });

    test('preserve storage', async () => {
      expect(provider.stopPreserveStorage && provider.restore, 'stopPreserveStorage and restore').toBeTruthy();
      const spec = await specFor();
      const h = await provision(provider, spec);
      await running(provider, h, spec);
      await target.workspace.write(h, 'kept.txt', 'kept across restore');
      await provider.stopPreserveStorage!(h);
      expect(await provider.status(h)).toBe('terminated');
      const next = await specFor({ sessionId: spec.sessionId, orgId: spec.orgId });
      const restored = await provider.restore!(h, next);
      started.push({ provider, handle: restored });
      await running(provider, restored, next);
      expect((await target.workspace.read(restored, 'kept.txt'))?.trim()).toBe('kept across restore');
      await provider.stopPreserveStorage!(restored);
      await provider.destroyStorage?.(restored);
    });

    test('destroy storage', async () => {
      expect(provider.destroyStorage, 'destroyStorage').toBeTruthy();
      const spec = await specFor();
      const h = await provision(provider, spec);
      await running(provider, h, spec);
      await target.workspace.write(h, 'gone.txt', 'to be destroyed');
      expect(await target.workspace.read(h, 'gone.txt')).toBe('to be destroyed');
      if (provider.stopPreserveStorage) await provider.stopPreserveStorage(h);
      else await provider.terminate(h);
      await provider.destroyStorage!(h);
      expect(await target.workspace.read(h, 'gone.txt')).toBeNull();
      await expect(provider.destroyStorage!(h)).resolves.toBeUndefined();
    });

    test('orphans', async () => {
      const other = await make(`ins_other_${uid()}`);
      const crashed = await make(installId);
      const specs = { orphan: await specFor(), live: await specFor(), foreign: await specFor() };
      const orphan = await provision(crashed, specs.orphan);
      const live = await provision(crashed, specs.live);
      const foreign = await provision(other, specs.foreign);
      for (const [h, s] of [
        [orphan, specs.orphan],
        [live, specs.live],
        [foreign, specs.foreign],
      ] as const)
        await running(provider, h, s);
      // `crashed` is dropped without terminate: a new instance of the same install takes over.
      const after = await make(installId);
      const listed = await after.list();
      const sandboxOf = (runner: string) => listed.find((o) => o.role === 'sandbox' && o.owner.runner === runner);
      expect(sandboxOf(specs.orphan.runnerId)?.owner.install).toBe(installId);
      expect(sandboxOf(specs.foreign.runnerId)?.owner.install).not.toBe(installId);
      const r = await after.reapOrphans((o) => o.owner.runner === specs.live.runnerId);
      const runners = (xs: Array<{ owner: { runner: string } }>) => new Set(xs.map((o) => o.owner.runner));
      expect(runners(r.removed).has(specs.orphan.runnerId)).toBe(true);
      expect(runners(r.kept).has(specs.live.runnerId)).toBe(true);
      expect(runners(r.foreign).has(specs.foreign.runnerId)).toBe(true);
      expect(r.failed).toEqual([]);
      expect(await after.status(orphan)).toBe('terminated');
      expect(await after.status(live)).toBe('running');
      expect(await other.status(foreign)).toBe('running');
      const left = await after.list();
      expect(left.some((o) => o.owner.runner === specs.orphan.runnerId && o.role === 'sandbox')).toBe(false);
      // A second reap finds nothing more of this install to remove.
      const again = await after.reapOrphans((o) => o.owner.runner === specs.live.runnerId);
      expect(runners(again.removed).has(specs.orphan.runnerId)).toBe(false);
      await after.terminate(live);
      await other.terminate(foreign);
    });
  });
}
