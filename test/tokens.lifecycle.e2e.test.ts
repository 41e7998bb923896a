/**
 * Registration tokens through the real CLI and real agents: create, use, one-time, expire,
 * rotate with a grace period, revoke, unknown; each refusal has its own message on the agent's
 * side. External runners: `mctl runners register` prints a one-time token and the exact agent
 * command line, which joins when run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, type ServerHandle, startServer, until } from './harness.js';
import { Agents, createToken, poolRunners } from './pools.helpers.js';

interface TokenRow {
  id: string;
  pool: string;
  kind: string;
  status: string;
  useCount: number;
  revokedAt: number | null;
}

let srv: ServerHandle;
const agents = new Agents();

beforeAll(async () => {
  srv = await startServer();
  const r = await srv.mctl(['pools', 'create', 'farm', '--mode', 'pool']);
  expect(r.code, r.stderr).toBe(0);
});
afterAll(async () => {
  agents.cleanup();
  await srv?.destroy();
});

async function tokens(): Promise<TokenRow[]> {
  return json<TokenRow[]>(await srv.mctl(['-o', 'json', 'runners', 'tokens', 'list']));
}

/** Starts an agent with a token and waits for it to exit (a refusal: its code) or register (null). */
async function join(token: string, name: string): Promise<{ code: number | null; output: string }> {
  const a = agents.start(srv, ['--token', token, '--pool', 'farm', '--name', name]);
  let code: number | null | undefined;
  void a.exited.then((c) => {
    code = c;
  });
  await until(
    async () => code !== undefined || /registered as runner/.test(a.output()),
    `${name} registered or refused`,
  );
  return { code: code ?? null, output: a.output() };
}

describe('registration tokens', () => {
  it('a reusable token lets several runners join and counts its uses', async () => {
    const t = await createToken(srv, ['--pool', 'farm', '--description', 'rack 1']);
    expect(t.token).toMatch(/^mrg/);
    expect((await join(t.token, 'r1')).code).toBeNull();
    expect((await join(t.token, 'r2')).code).toBeNull();
    await until(async () => ((await poolRunners(srv, 'farm')).length === 2 ? true : null), 'two runners');
    const row = (await tokens()).find((x) => x.id === t.id)!;
    expect(row).toMatchObject({ pool: 'farm', kind: 'reusable', status: 'active', useCount: 2 });
    const table = await srv.mctl(['runners', 'tokens', 'list', '--pool', 'farm']);
    expect(table.stdout).toMatch(new RegExp(`${t.id}\\s+farm\\s+reusable\\s+active\\s+2`));
    expect(table.stdout).not.toContain(t.token); // secrets are shown once, at creation
  });

  it('a one-time token works once; the second use is refused as used', async () => {
    const t = await createToken(srv, ['--pool', 'farm', '--one-time']);
    expect((await join(t.token, 'once-1')).code).toBeNull();
    const second = await join(t.token, 'once-2');
    expect(second.code).toBe(2);
    expect(second.output).toMatch(/is one-time and was already used/);
  });

  it('an expired token is refused as expired', async () => {
    const t = await createToken(srv, ['--pool', 'farm', '--expires-in', '1s']);
    await until(
      async () => ((await tokens()).find((x) => x.id === t.id)?.status === 'expired' ? true : null),
      'expiry',
    );
    const r = await join(t.token, 'late');
    expect(r.code).toBe(2);
    expect(r.output).toMatch(new RegExp(`registration token ${t.id} expired at \\d{4}-`));
  });

  it('an unknown token is refused as not recognised', async () => {
    const r = await join('mrg_this-was-never-issued', 'nobody');
    expect(r.code).toBe(2);
    expect(r.output).toMatch(/registration token not recognised/);
  });

  it('rotate: the new token works, the old one keeps working for the grace period, then is refused', async () => {
    const old = await createToken(srv, ['--pool', 'farm']);
    const rot = await srv.mctl(['-o', 'json', 'runners', 'tokens', 'rotate', old.id, '--grace', '8s']);
    expect(rot.code, rot.stderr).toBe(0);
    const fresh = json<{ id: string; token: string; rotatedFrom: string }>(rot);
    expect(fresh.rotatedFrom).toBe(old.id);
    expect(fresh.token).not.toBe(old.token);
    expect((await tokens()).find((x) => x.id === old.id)?.status).toBe('rotating');
    expect((await join(old.token, 'in-grace')).code).toBeNull();
    expect((await join(fresh.token, 'new-token')).code).toBeNull();
    await until(
      async () => ((await tokens()).find((x) => x.id === old.id)?.status === 'revoked' ? true : null),
      'grace over',
    );
    const r = await join(old.token, 'after-grace');
    expect(r.code).toBe(2);
    expect(r.output).toMatch(/was revoked at/);
    expect((await join(fresh.token, 'new-token-2')).code).toBeNull();
  });

  it('rotate with no grace refuses the old token at once; rotating a revoked token is a conflict', async () => {
    const old = await createToken(srv, ['--pool', 'farm']);
    const rot = await srv.mctl(['runners', 'tokens', 'rotate', old.id, '--grace', '0']);
    expect(rot.code, rot.stderr).toBe(0);
    const r = await join(old.token, 'no-grace');
    expect(r.code).toBe(2);
    expect(r.output).toMatch(/was revoked at/);
    const again = await srv.mctl(['runners', 'tokens', 'rotate', old.id]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/is revoked; create a new one/);
  });

  it('revoking does not disconnect runners that already joined', async () => {
    const t = await createToken(srv, ['--pool', 'farm']);
    expect((await join(t.token, 'stays')).code).toBeNull();
    expect((await srv.mctl(['runners', 'tokens', 'revoke', t.id])).code).toBe(0);
    const again = await srv.mctl(['runners', 'tokens', 'revoke', t.id]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/already revoked/);
    const rs = await until(async () => {
      const x = (await poolRunners(srv, 'farm')).find((r) => r.name === 'stays');
      return x?.state === 'idle' ? x : null;
    }, 'runner idle');
    expect(rs.state).toBe('idle');
  });

  it('refuses tokens for managed pools and unknown pools with a reason', async () => {
    const m = await srv.mctl(['runners', 'tokens', 'create', '--pool', 'local']);
    expect(m.code).not.toBe(0);
    expect(m.stderr).toMatch(/pool local is managed/);
    const u = await srv.mctl(['runners', 'tokens', 'create', '--pool', 'nope']);
    expect(u.code).not.toBe(0);
    expect(u.stderr).toMatch(/nope/);
  });
});

describe('external runners', () => {
  it('a refused register writes nothing: no default external pool is left behind', async () => {
    const pools = async () => (await srv.api<{ items: { name: string }[] }>('GET', '/v1/pools')).body.items;
    expect((await pools()).map((p) => p.name)).not.toContain('external');
    for (const body of [{ labels: 'not a label!' }, { expiresIn: 'soon' }]) {
      const r = await srv.api<{ detail: string }>('POST', '/v1/runners/register', body);
      expect(r.status, JSON.stringify(r.body)).toBe(400);
    }
    expect((await pools()).map((p) => p.name)).not.toContain('external');
  });

  it('register prints a one-time token and a command line that joins the external pool', async () => {
    const human = await srv.mctl(['runners', 'register', '--labels', 'zone=a,disk=ssd', '--name', 'ext-1']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/one-time token \S+ for pool external/);
    expect(human.stdout).toMatch(
      new RegExp(
        `marionette-agent --server 127\\.0\\.0\\.1:${srv.gatewayPort} --token mrg\\S+ --pool external --labels zone=a,disk=ssd --name ext-1`,
      ),
    );
    const r = json<{ argv: string[]; token: string; pool: string }>(
      await srv.mctl(['-o', 'json', 'runners', 'register', '--labels', 'zone=b', '--name', 'ext-2']),
    );
    expect(r.argv[0]).toBe('marionette-agent');
    const a = agents.start(srv, r.argv.slice(1));
    const joined = await until(async () => {
      const x = (await poolRunners(srv, 'external')).find((y) => y.name === 'ext-2');
      return x?.state === 'idle' ? x : null;
    }, 'external runner idle');
    expect(joined.labels).toEqual({ zone: 'b' });
    const s = await srv.api<{ id: string }>('POST', '/v1/sessions', {
      agent: 'shell',
      prompt: 'echo external-ok',
      selector: 'zone=b',
    });
    expect(s.status).toBe(201);
    const done = await until(async () => {
      const v = await srv.api<{ tasks: { state: string; runnerId: string }[] }>('GET', `/v1/sessions/${s.body.id}`);
      return v.body.tasks[0]?.state === 'succeeded' ? v.body.tasks[0] : null;
    }, 'external task done');
    expect(done.runnerId).toBe(joined.id);
    const twice = await join(r.token, 'ext-again');
    expect(twice.code).toBe(2);
    expect(twice.output).toMatch(/already used/);
    a.kill();
  });
});
