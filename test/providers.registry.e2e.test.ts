/**
 * The provider registry as the API shows it, on a real server:
 * - a pool on a provider that is not implemented (firecracker) is `unavailable` with the reason,
 *   never `ok` (it was `ok`, and sessions waited on it forever);
 * - a pool or profile naming a provider that does not exist is a 400 naming the known ones;
 * - `sandbox_mode: runner-creates-sandbox` is refused (API and config) for docker pools, whose
 *   runners are sandboxes already (it was once accepted, and its tasks ran unconfined), and a
 *   bad `sandbox_config.sandbox` is refused naming the key;
 * - `providers.docker.suspend_config` (the seed's) is the default of docker pools, and a pool's
 *   own suspend_config wins (it was ignored);
 * - `/v1/providers` lists every descriptor with whether it is implemented.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROVIDER_IDS } from '../src/providers/registry.js';
import { type ServerHandle, startServer } from './harness.js';
import { expectProblem, type Problem } from './problems.support.js';

interface PoolView {
  name: string;
  providerId: string;
  health: string;
  unavailableReason?: string;
  warnings: string[];
  suspendConfig: { strategy: string; fallback: string; minDurationMs: number; maxDurationMs: number | null };
}

describe('the provider registry through the API', () => {
  let srv: ServerHandle;
  beforeAll(async () => {
    srv = await startServer({
      config: [
        'providers:',
        '  docker:',
        // An engine nobody listens on: these tests read pool rows, they start no container.
        '    host: "unix:///tmp/marionette-registry-test-no-engine.sock"',
        '    suspend_config:',
        '      strategy: pause',
        '      fallback: terminate_preserve_storage',
        '      min_duration: 60s',
        '      max_duration: 24h',
        'pools:',
        '  d-default: {provider: docker}',
        '  d-own: {provider: docker, suspend_config: {strategy: terminate, fallback: terminate, min_duration: 5s}}',
        '',
      ].join('\n'),
    });
  });
  afterAll(async () => {
    await srv?.destroy();
  });

  const pool = async (name: string) => (await srv.api<PoolView>('GET', `/v1/pools/${name}`)).body;

  it("docker pools take providers.docker.suspend_config; a pool's own wins key by key", async () => {
    expect((await pool('d-default')).suspendConfig).toEqual({
      strategy: 'pause',
      fallback: 'terminate_preserve_storage',
      minDurationMs: 60_000,
      maxDurationMs: 24 * 3_600_000,
    });
    expect((await pool('d-own')).suspendConfig).toEqual({
      strategy: 'terminate',
      fallback: 'terminate',
      minDurationMs: 5_000,
      // Not set on the pool: the provider's.
      maxDurationMs: 24 * 3_600_000,
    });
    // A docker pool created through the API gets the provider's default too.
    const r = await srv.api<PoolView>('POST', '/v1/pools', { name: 'd-api', provider: 'docker' });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body.suspendConfig.minDurationMs).toBe(60_000);
    // Another provider's pools keep their own descriptor's default.
    expect((await pool('local')).suspendConfig).toMatchObject({
      strategy: 'terminate_preserve_storage',
      minDurationMs: 0,
    });
  });

  it('a docker pool whose engine is unreachable is unavailable, with the socket it tried', async () => {
    const p = await pool('d-default');
    expect(p.health).toBe('unavailable');
    expect(p.unavailableReason).toContain('/tmp/marionette-registry-test-no-engine.sock');
  });

  it('a pool on a provider that is not implemented is unavailable with the reason, never ok', async () => {
    const r = await srv.api<PoolView>('POST', '/v1/pools', { name: 'k8s', provider: 'firecracker' });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const p = await pool('k8s');
    expect(p.health).toBe('unavailable');
    expect(p.unavailableReason).toBe('provider firecracker: not implemented in this version');
    expect(p.warnings[0]).toContain('not implemented in this version');
    const listed = (await srv.api<{ items: PoolView[] }>('GET', '/v1/pools')).body.items.find((x) => x.name === 'k8s');
    expect(listed?.health).toBe('unavailable');
    // A session pinned to it says why it cannot be placed.
    const s = await srv.api<Problem>('POST', '/v1/sessions', {
      agent: 'shell',
      pool: 'k8s',
      prompt: 'true',
      waitForCapacity: false,
    });
    expectProblem(s, 422, /not implemented in this version/);
  });

  it('the local pool is ok', async () => {
    expect((await pool('local')).health).toBe('ok');
  });

  it('a provider id that does not exist is a 400 naming the known ones (pool create, profile)', async () => {
    const r = await srv.api<Problem>('POST', '/v1/pools', { name: 'bad', provider: 'kubernets' });
    expectProblem(r, 400, /^provider: unknown provider "kubernets"; known providers: /);
    for (const id of PROVIDER_IDS) expect(r.body.detail).toContain(id);
    const p = await srv.api<Problem>('POST', '/v1/profiles', { name: 'bad', providerPreference: ['docker', 'acme'] });
    expectProblem(p, 400, /^providerPreference: unknown provider "acme"; known providers: local, docker/);
    expect((await srv.api('GET', '/v1/pools/bad')).status).toBe(404);
  });

  it('a managed pool on a joined-runners provider, and a pool-mode pool on a managed one, are refused', async () => {
    expectProblem(
      await srv.api('POST', '/v1/pools', { name: 'x1', provider: 'pool', mode: 'managed' }),
      400,
      /a managed pool needs a managed provider, not pool/,
    );
    expectProblem(
      await srv.api('POST', '/v1/pools', { name: 'x2', provider: 'docker', mode: 'pool' }),
      400,
      /provider must be one whose runners join \(pool, external\), not docker/,
    );
    // Mode alone picks the provider whose runners join that way.
    const r = await srv.api<PoolView>('POST', '/v1/pools', { name: 'joined', mode: 'pool' });
    expect(r.body.providerId).toBe('pool');
  });

  it('sandbox_mode runner-creates-sandbox is refused for docker pools (create and update) and checked for local ones', async () => {
    expectProblem(
      await srv.api('POST', '/v1/pools', { name: 'nested', provider: 'docker', sandboxMode: 'runner-creates-sandbox' }),
      400,
      /sandbox_mode: runner-creates-sandbox is for local pools .*docker's runners are sandboxes already/,
    );
    const dockerPool = await srv.api('POST', '/v1/pools', { name: 'dk', provider: 'docker' });
    expect(dockerPool.status, JSON.stringify(dockerPool.body)).toBe(201);
    expectProblem(
      await srv.api('PATCH', '/v1/pools/dk', { sandboxMode: 'runner-creates-sandbox' }),
      400,
      /runner-is-sandbox/,
    );
    expect((await srv.api<{ sandboxMode: string }>('GET', '/v1/pools/dk')).body.sandboxMode).toBe('runner-is-sandbox');
    expectProblem(
      await srv.api('POST', '/v1/pools', {
        name: 'nested-bad',
        provider: 'local',
        sandboxMode: 'runner-creates-sandbox',
        sandboxConfig: { sandbox: { runtime: 'chroot' } },
      }),
      400,
      /runtime/,
    );
    expect((await srv.api('GET', '/v1/pools/nested-bad')).status).toBe(404);
  });

  it('/v1/providers lists every descriptor, which are implemented, and their default suspend config', async () => {
    const r = await srv.api<{
      items: { id: string; implemented: boolean; registered: boolean; unavailable: string | null; suspend: unknown }[];
    }>('GET', '/v1/providers');
    expect(r.body.items.map((p) => p.id)).toEqual([...PROVIDER_IDS]);
    const byId = new Map(r.body.items.map((p) => [p.id, p]));
    for (const id of ['local', 'docker', 'kubernetes', 'pool', 'external'])
      expect(byId.get(id)?.implemented, id).toBe(true);
    // Built only when configured: this server has no providers.kubernetes section.
    expect(byId.get('kubernetes')).toMatchObject({ registered: false });
    expect(byId.get('kubernetes')?.unavailable).toContain('not configured on this server');
    expect(byId.get('daytona')).toMatchObject({ implemented: true, registered: false });
    expect(byId.get('daytona')?.unavailable).toContain('not configured on this server');
    // Built only when configured: this server has no providers.e2b section.
    expect(byId.get('e2b')).toMatchObject({ implemented: true, registered: false });
    expect(byId.get('vercel')).toMatchObject({ implemented: true, registered: false });
    expect(byId.get('modal')).toMatchObject({ implemented: true, registered: false });
    for (const id of ['firecracker']) {
      expect(byId.get(id)).toMatchObject({ implemented: false, registered: false });
      expect(byId.get(id)?.unavailable).toContain('not implemented in this version');
    }
    expect(byId.get('local')?.unavailable).toBeNull();
    expect(byId.get('docker')?.suspend).toMatchObject({ strategy: 'pause', minDurationMs: 60_000 });
    const cli = await srv.mctl(['providers', 'list']);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toContain('modal: unavailable (provider modal is not configured on this server)');
    expect(cli.stdout).toContain('firecracker: unavailable (provider firecracker: not implemented in this version)');
    expect(cli.stdout).toContain('e2b: unavailable (provider e2b is not configured on this server)');
    expect(cli.stdout).toContain('kubernetes: unavailable (provider kubernetes is not configured on this server)');
    expect(cli.stdout).toContain('local: available');
  });
});

describe('an edited providers.docker.suspend_config', () => {
  it('reaches the docker pools of marionette.yaml at the next start', async () => {
    const config = (min: string) =>
      [
        'providers:',
        '  docker:',
        '    host: "unix:///tmp/marionette-registry-test-no-engine.sock"',
        `    suspend_config: {min_duration: ${min}}`,
        'pools:',
        '  d: {provider: docker}',
        '',
      ].join('\n');
    const first = await startServer({ config: config('60s') });
    let second: ServerHandle | undefined;
    try {
      const before = await first.api<PoolView>('GET', '/v1/pools/d');
      expect(before.body.suspendConfig.minDurationMs).toBe(60_000);
      await first.stop();
      second = await startServer({ home: first.home, config: config('2m') });
      const after = await second.api<PoolView>('GET', '/v1/pools/d');
      expect(after.body.suspendConfig.minDurationMs).toBe(120_000);
    } finally {
      await (second ?? first).destroy();
    }
  });
});

describe('refused at startup', () => {
  it('a docker pool with sandbox_mode runner-creates-sandbox in marionette.yaml stops the server, naming the pool', async () => {
    await expect(
      startServer({ config: 'pools:\n  gpu: {provider: docker, sandbox_mode: runner-creates-sandbox}\n' }),
    ).rejects.toThrow(/pools\.gpu: sandbox_mode: runner-creates-sandbox is for local pools/);
  });

  it('a profile preferring a provider that does not exist stops the server, naming the known ones', async () => {
    await expect(
      startServer({ config: 'profiles:\n  big:\n    provider_preference: [kubernetes, dokcer]\n' }),
    ).rejects.toThrow(/profiles\.big\.provider_preference: unknown provider "dokcer"; known providers: local, docker/);
  });
});
