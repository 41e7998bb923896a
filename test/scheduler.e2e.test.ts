/**
 * Scheduling through the real server: the provider matrix, pools with labels, priorities and
 * substrate overrides, selectors, auth-mode pins, explain, and waiting vs failing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, type ServerHandle, startServer, until } from './harness.js';

interface Verdict {
  poolName: string;
  reason: string | null;
  detail: string;
  chosen: boolean;
}
interface DryRun {
  decision: { chosenPoolId: string | null; verdicts: Verdict[]; summary: string };
}

let srv: ServerHandle;
beforeAll(async () => {
  srv = await startServer();
});
afterAll(async () => {
  await srv?.destroy();
});

const verdictOf = (d: DryRun, pool: string) => d.decision.verdicts.find((v) => v.poolName === pool)!;

describe('providers list', () => {
  it("holds the seed's seven rows with the seed's values", async () => {
    const r = await srv.mctl(['-o', 'json', 'providers', 'list']);
    expect(r.code, r.stderr).toBe(0);
    const rows = JSON.parse(r.stdout) as { id: string; capabilities: Record<string, unknown> }[];
    const by = Object.fromEntries(rows.map((x) => [x.id, x.capabilities]));
    const seed: Record<string, unknown[]> = {
      //                            local     docker    kubernetes e2b        daytona         modal      vercel
      transportModel: ['either', 'either', 'either', 'dial-in', 'dial-in', 'dial-in', 'dial-in'],
      supportsFsSnapshot: [false, false, false, true, true, true, true],
      supportsPauseResume: [false, false, false, true, false, true, false],
      supportsCapacityQuery: [true, true, true, false, false, false, false],
      supportsGpu: [false, false, false, false, false, true, false],
      supportsCustomNetworkPolicy: [false, true, true, false, false, false, true],
      idleCostModel: ['zero', 'zero', 'metered', 'zero', 'storage-only', 'metered', 'metered'],
      billingModel: ['fixed', 'fixed', 'fixed', 'wall-clock', 'wall-clock', 'wall-clock', 'active-cpu'],
      maxSessionDurationSeconds: [null, null, null, null, null, null, 18000],
      egressDefault: ['allow-all', 'allow-all', 'allow-all', 'allow-all', 'allow-all', 'allow-all', 'allow-all'],
    };
    const ids = ['local', 'docker', 'kubernetes', 'e2b', 'daytona', 'modal', 'vercel'];
    for (const [field, values] of Object.entries(seed)) {
      for (const [i, id] of ids.entries()) expect(by[id]?.[field], `${id}.${field}`).toEqual(values[i]);
    }
    const table = await srv.mctl(['providers', 'list']);
    expect(table.stdout).toMatch(/CAPABILITY\s+local\s+pool|CAPABILITY\s+local\s+docker/);
  });
});

describe('routing by selector, priority and substrate', () => {
  beforeAll(async () => {
    for (const args of [
      ['pools', 'create', 'gpu-big', '--provider', 'local', '--labels', 'gpu=nvidia,vram=24GB', '--priority', '5'],
      ['pools', 'create', 'gpu-small', '--provider', 'local', '--labels', 'gpu=nvidia,vram=8GB', '--priority', '10'],
    ]) {
      const r = await srv.mctl(args);
      expect(r.code, r.stderr).toBe(0);
    }
  });

  it('chooses the pool with enough VRAM and explains the other as a selector mismatch on vram', async () => {
    const r = await srv.mctl([
      '-o',
      'json',
      'sessions',
      'create',
      '--agent',
      'shell',
      '--selector',
      'gpu=nvidia,vram>=16GB',
      '--dry-run',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const d = json<DryRun>(r);
    expect(verdictOf(d, 'gpu-big').chosen).toBe(true);
    const small = verdictOf(d, 'gpu-small');
    expect(small.reason).toBe('selector_mismatch');
    expect(small.detail).toContain('vram');
    expect(verdictOf(d, 'local').reason).toBe('selector_mismatch');
    const human = await srv.mctl([
      'sessions',
      'create',
      '--agent',
      'shell',
      '--selector',
      'gpu=nvidia,vram>=16GB',
      '--dry-run',
    ]);
    expect(human.stdout).toMatch(/gpu-big\s+local\s+5\s+chosen/);
    expect(human.stdout).toMatch(/gpu-small\s+local\s+10\s+selector_mismatch\s+.*vram/);
    const sessions = await srv.api<{ items: unknown[] }>('GET', '/v1/sessions');
    expect(sessions.body.items).toHaveLength(0); // dry runs create nothing
  });

  it('prefers the higher priority among eligible pools', async () => {
    const d = json<DryRun>(
      await srv.mctl(['-o', 'json', 'sessions', 'create', '--agent', 'shell', '--selector', 'gpu=nvidia', '--dry-run']),
    );
    expect(verdictOf(d, 'gpu-small').chosen).toBe(true);
    expect(verdictOf(d, 'gpu-big').reason).toBe('lower_priority');
  });

  it('gives a parse error naming the column for a bad selector', async () => {
    const r = await srv.mctl([
      'sessions',
      'create',
      '--agent',
      'shell',
      '--selector',
      'gpu=nvidia,vram>>16GB',
      '--dry-run',
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/column 17/);
  });

  it('never lands a --auth-mode local session on a non-local pool', async () => {
    const c = await srv.mctl(['pools', 'create', 'dock', '--provider', 'docker', '--priority', '100']);
    expect(c.code, c.stderr).toBe(0);
    const d = json<DryRun>(
      await srv.mctl(['-o', 'json', 'sessions', 'create', '--agent', 'shell', '--auth-mode', 'local', '--dry-run']),
    );
    const chosen = d.decision.verdicts.find((v) => v.chosen)!;
    expect(['local', 'gpu-big', 'gpu-small']).toContain(chosen.poolName);
    expect(verdictOf(d, 'dock').reason).toBe('auth_mode_pin');
    const byok = json<DryRun>(
      await srv.mctl([
        '-o',
        'json',
        'sessions',
        'create',
        '--agent',
        'shell',
        '--provider',
        'docker',
        '--auth-mode',
        'local',
        '--dry-run',
      ]),
    );
    expect(byok.decision.chosenPoolId).toBeNull();
    await srv.mctl(['pools', 'delete', 'dock']);
  });

  it('explains a missing requirement with where the capability came from, and honours a runtime_provides override', async () => {
    const a = await srv.mctl([
      'agents',
      'create',
      'trainer',
      '--command',
      '["bash","-lc","{{prompt}}"]',
      '--requires',
      'gpu',
    ]);
    expect(a.code, a.stderr).toBe(0);
    const d = json<DryRun>(await srv.mctl(['-o', 'json', 'sessions', 'create', '--agent', 'trainer', '--dry-run']));
    expect(d.decision.chosenPoolId).toBeNull();
    expect(verdictOf(d, 'gpu-big').reason).toBe('missing_requirement');
    expect(verdictOf(d, 'gpu-big').detail).toContain('class default for local');
    const u = await srv.mctl([
      'pools',
      'update',
      'gpu-big',
      '--runtime-provides',
      '{"runtimeKinds":["native"],"requirementKinds":["gpu","git"]}',
    ]);
    expect(u.code, u.stderr).toBe(0);
    const d2 = json<DryRun>(await srv.mctl(['-o', 'json', 'sessions', 'create', '--agent', 'trainer', '--dry-run']));
    expect(verdictOf(d2, 'gpu-big').chosen).toBe(true);
    const sub = await srv.mctl(['pools', 'show', 'gpu-big', '--substrate']);
    expect(sub.stdout).toContain('runtime_provides override');
    expect(sub.stdout).toMatch(/requirement\s+gpu/);
    const local = await srv.mctl(['pools', 'show', 'local', '--substrate']);
    expect(local.stdout).toContain('class default for local');
  });

  it('refuses a malformed runtime_provides naming the bad entry', async () => {
    const r = await srv.mctl([
      'pools',
      'update',
      'gpu-small',
      '--runtime-provides',
      '{"runtimeKinds":["native"],"requirementKinds":["git","gpux"]}',
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('runtime_provides.requirementKinds[1]: "gpux" is not a requirement kind');
  });

  it('ships the gpu-large profile and routes by it', async () => {
    const p = json<{ selector: string }>(await srv.mctl(['-o', 'json', 'profiles', 'show', 'gpu-large']));
    expect(p.selector).toBe('gpu=nvidia,vram>=16GB');
    const d = json<DryRun>(
      await srv.mctl(['-o', 'json', 'sessions', 'create', '--agent', 'shell', '--profile', 'gpu-large', '--dry-run']),
    );
    expect(verdictOf(d, 'gpu-big').chosen).toBe(true);
  });
});

describe('waiting vs failing', () => {
  it('fails at once with --no-wait-for-capacity, with the reasons', async () => {
    const r = await srv.mctl([
      'sessions',
      'create',
      '--agent',
      'shell',
      '--prompt',
      'true',
      '--selector',
      'os=plan9',
      '--no-wait-for-capacity',
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('no pool can take this session');
    expect(r.stderr).toContain('selector_mismatch');
  });

  it('waits in scheduling with its reasons, and is placed when a matching pool appears', async () => {
    const c = await srv.mctl([
      '-o',
      'json',
      'sessions',
      'create',
      '--agent',
      'shell',
      '--prompt',
      'echo placed-at-last',
      '--selector',
      'os=haiku',
    ]);
    expect(c.code, c.stderr).toBe(0);
    const sid = json<{ id: string }>(c).id;
    const waiting = await until(async () => {
      const s = (await srv.api<{ state: string; stateReason: string | null }>('GET', `/v1/sessions/${sid}`)).body;
      return s.state === 'scheduling' && s.stateReason ? s : null;
    }, 'reason recorded');
    expect(waiting.stateReason).toContain('selector_mismatch');
    const ex = await srv.mctl(['sessions', 'explain', sid]);
    expect(ex.stdout).toMatch(/local\s+local\s+0\s+selector_mismatch\s+.*os/);
    const p = await srv.mctl(['pools', 'create', 'haiku', '--provider', 'local', '--labels', 'os=haiku']);
    expect(p.code, p.stderr).toBe(0);
    const done = await until(
      async () => {
        const s = (await srv.api<{ tasks: { state: string }[] }>('GET', `/v1/sessions/${sid}`)).body;
        return s.tasks[0]?.state === 'succeeded' ? s : null;
      },
      'placed and run',
      30_000,
    );
    expect(done).toBeTruthy();
    const logs = await srv.mctl(['sessions', 'logs', sid]);
    expect(logs.stdout.trim()).toBe('placed-at-last');
  });
});
