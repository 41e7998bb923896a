/**
 * Provider credentials end to end, on a real server (SQLite) with `mctl`:
 * - `mctl credentials list` shows where each provider's credential comes from (stored, the server's
 *   environment, none) and never a value; `set` takes a value from a named variable (`--from-env`)
 *   or stdin (the value alone, or NAME=VALUE lines), `delete` removes the stored one;
 * - bad input gets a clear error naming what was wrong (unknown provider, a provider that takes no
 *   credential, a missing field, empty stdin, an unset variable, an unknown field), never a stack;
 * - a pool whose provider has no credential for the org gets `credential_missing` before anything is
 *   provisioned, and `mctl sessions explain` names the variable and the command; once set, the pool
 *   gets past that check. Where this build does not implement the provider (e2b before its provider
 *   lands), the pool is `provider_unavailable` first, and the verdict itself is covered over the
 *   real placer in src/server/placement.credentials.test.ts;
 * - a restart keeps the credential readable; another at-rest key stops the start clearly, changing
 *   nothing, and rotation brings it back;
 * - the values are in no API answer, CLI output, event, audit entry, log, file of the server's home,
 *   or the server process's own stdout and stderr.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, type CmdResult, killRunners, type ServerHandle, startServer, until } from './harness.js';

const E2B_SECRET = `e2b_${randomBytes(16).toString('hex')}`;
const MODAL_SECRET = `as-${randomBytes(16).toString('hex')}`;
const ENV_SECRET = `vercel-${randomBytes(16).toString('hex')}`;
const SECRETS = [E2B_SECRET, MODAL_SECRET, ENV_SECRET];

/** The provider env fallbacks: all cleared (whatever the test's own environment has) but VERCEL_TOKEN. */
/** Builds the e2b provider; every address it could call is a closed loopback port (nothing here provisions). */
const E2B_CONFIG =
  'providers:\n  e2b:\n    gateway: ws://127.0.0.1:9\n    apiUrl: http://127.0.0.1:9\n    sandboxUrl: http://127.0.0.1:9\n';

const SERVER_ENV = {
  E2B_API_KEY: '',
  DAYTONA_API_KEY: '',
  DAYTONA_API_URL: '',
  DAYTONA_TARGET: '',
  MODAL_TOKEN_ID: '',
  MODAL_TOKEN_SECRET: '',
  VERCEL_TOKEN: ENV_SECRET,
  VERCEL_TEAM_ID: '',
  VERCEL_PROJECT_ID: '',
};

let srv: ServerHandle;
/** Every API answer and CLI output the test saw, to grep for the secrets at the end. */
const seen: string[] = [];

/** Keeps what the server process writes to stdout and stderr, for the same grep. */
function capture(s: ServerHandle): ServerHandle {
  s.proc.stdout?.on('data', (c: Buffer) => seen.push(c.toString()));
  s.proc.stderr?.on('data', (c: Buffer) => seen.push(c.toString()));
  return s;
}

async function api<T = Record<string, unknown>>(method: string, path: string, body?: unknown) {
  const r = await srv.api<T>(method, path, body);
  seen.push(typeof r.body === 'string' ? r.body : JSON.stringify(r.body));
  return r;
}

/** mctl with `input` on its stdin (null: an empty stdin that is closed) and extra env. */
function mctl(args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<CmdResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN.mctl, ...args], {
      env: {
        ...process.env,
        MARIONETTE_SERVER: srv.apiUrl,
        MARIONETTE_TOKEN: srv.token,
        MARIONETTE_HOME: srv.home,
        ...opts.env,
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('close', (code) => {
      seen.push(stdout, stderr);
      resolve({ code: code ?? 1, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** A failed mctl run: non-zero, the message on stderr, no stack trace. */
function expectRefused(r: CmdResult, message: RegExp | string): void {
  expect(r.code, r.stdout).not.toBe(0);
  if (typeof message === 'string') expect(r.stderr).toContain(message);
  else expect(r.stderr).toMatch(message);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

interface Listed {
  provider: string;
  source: string;
  fields: string[];
}

const listed = async () => {
  const r = await mctl(['-o', 'json', 'credentials', 'list']);
  expect(r.code, r.stderr).toBe(0);
  return Object.fromEntries((JSON.parse(r.stdout) as Listed[]).map((c) => [c.provider, c]));
};

interface Verdict {
  poolName: string;
  reason: string | null;
  detail: string;
}

/** Where a session on pool `pool` would go now (a dry run). */
async function verdictOn(pool: string): Promise<Verdict> {
  const r = await api<{ decision: { verdicts: Verdict[] } }>('POST', '/v1/sessions', {
    agent: 'shell',
    prompt: 'true',
    pool,
    dryRun: true,
  });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.decision.verdicts.find((v) => v.poolName === pool)!;
}

beforeAll(async () => {
  srv = capture(await startServer({ env: SERVER_ENV, config: E2B_CONFIG }));
  for (const [name, provider] of [
    ['e2b-pool', 'e2b'],
    ['modal-pool', 'modal'],
    ['vercel-pool', 'vercel'],
  ]) {
    const r = await api('POST', '/v1/pools', { name, provider });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
  }
}, 60_000);
afterAll(async () => {
  await srv?.destroy();
});

describe('mctl credentials', () => {
  it('lists where each credential comes from, never a value', async () => {
    const l = await listed();
    expect(Object.keys(l)).toEqual(['e2b', 'daytona', 'modal', 'vercel']);
    expect(l.e2b).toMatchObject({ source: 'none', fields: [] });
    expect(l.vercel).toMatchObject({ source: 'environment', fields: ['token'] });
    const table = await mctl(['credentials', 'list']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^PROVIDER\s+SOURCE\s+FIELDS\s+ENV FALLBACK\s+UPDATED/);
    expect(table.stdout).toMatch(/\ne2b\s+none\s+-\s+E2B_API_KEY/);
    expect(table.stdout).toMatch(/\nmodal\s+none\s+-\s+MODAL_TOKEN_ID,MODAL_TOKEN_SECRET/);
  });

  it('gives credential_missing before anything is provisioned; explain names the variable and the command', async () => {
    // e2b is built (E2B_CONFIG) and the org has no key: the missing credential is the verdict.
    const providers = await api<{ items: { id: string; registered: boolean }[] }>('GET', '/v1/providers');
    expect(providers.body.items.find((p) => p.id === 'e2b')?.registered).toBe(true);
    const v = await verdictOn('e2b-pool');
    expect(v.reason).toBe('credential_missing');
    expect(v.detail).toContain('E2B_API_KEY');
    expect(v.detail).toContain('mctl credentials set e2b --from-env E2B_API_KEY');
    // A session that waits for capacity: explain shows the verdict; no runner was started for the pool.
    const created = await api<{ id: string }>('POST', '/v1/sessions', {
      agent: 'shell',
      prompt: 'true',
      pool: 'e2b-pool',
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    await until(
      async () => {
        const r = await api<{ decision: { verdicts: Verdict[] } | null }>(
          'GET',
          `/v1/sessions/${created.body.id}/explain`,
        );
        return r.body.decision?.verdicts.some((x) => x.reason === 'credential_missing');
      },
      'the session to be evaluated',
      60_000,
    );
    const explain = await mctl(['sessions', 'explain', created.body.id]);
    expect(explain.code, explain.stderr).toBe(0);
    expect(explain.stdout).toMatch(/e2b-pool\s+e2b\s+0\s+credential_missing\s+provider e2b needs a credential/);
    expect(explain.stdout).toContain('`mctl credentials set e2b --from-env E2B_API_KEY`');
    expect(explain.stdout).toContain('E2B_API_KEY');
    const runners = await api<{ items: { poolId: string }[] }>('GET', '/v1/runners');
    const pool = await api<{ id: string }>('GET', '/v1/pools/e2b-pool');
    expect(runners.body.items.filter((r) => r.poolId === pool.body.id)).toEqual([]);
    // Vercel's comes from the server's environment.
    expect((await verdictOn('vercel-pool')).reason).not.toBe('credential_missing');
    expect((await api('POST', `/v1/sessions/${created.body.id}/cancel`, {})).status).toBe(200);
  }, 90_000);

  it('refuses bad input clearly', async () => {
    expectRefused(await mctl(['credentials', 'set', 'e2b']), 'give --from-env NAME or --stdin');
    expectRefused(
      await mctl(['credentials', 'set', 'nosuch', '--stdin'], { input: E2B_SECRET }),
      'unknown provider "nosuch"',
    );
    expectRefused(
      await mctl(['credentials', 'set', 'docker', '--stdin'], { input: E2B_SECRET }),
      /provider docker takes no credential[\s\S]*providers that take a credential: e2b, daytona, modal, vercel/,
    );
    expectRefused(await mctl(['credentials', 'set', 'e2b', '--stdin'], { input: '  \n' }), '--stdin: stdin was empty');
    expectRefused(
      await mctl(['credentials', 'set', 'e2b', '--from-env', 'UNSET_VAR_FOR_TEST']),
      '--from-env UNSET_VAR_FOR_TEST: UNSET_VAR_FOR_TEST is not set (or empty) in this environment',
    );
    expectRefused(
      await mctl(['credentials', 'set', 'modal', '--stdin'], { input: `tokenId=ak-123\n` }),
      /credential field tokenSecret is required and was not given[\s\S]*--from-env MODAL_TOKEN_SECRET/,
    );
    expectRefused(
      await mctl(['credentials', 'set', 'modal', '--stdin'], { input: MODAL_SECRET }),
      'provider modal takes several fields; give them as lines NAME=VALUE',
    );
    expectRefused(
      await mctl(['credentials', 'set', 'modal', '--from-env', 'SOME_VAR'], { env: { SOME_VAR: MODAL_SECRET } }),
      'provider modal takes several fields; say which one this variable holds',
    );
    expectRefused(await mctl(['credentials', 'delete', 'e2b']), 'stored credential for provider "e2b" not found');
    // The API itself: a missing field, an unknown one, a provider without credentials, an empty body.
    const bad = async (provider: string, body: unknown, status: number, detail: RegExp) => {
      const r = await api<{ detail: string }>('PUT', `/v1/provider-credentials/${provider}`, body);
      expect(r.status, JSON.stringify(r.body)).toBe(status);
      expect(r.body.detail).toMatch(detail);
    };
    await bad('modal', { fields: { tokenId: 'ak-1' } }, 400, /credential field tokenSecret is required/);
    await bad('e2b', { fields: { apiKey: E2B_SECRET, nope: E2B_SECRET } }, 400, /unknown credential field "nope"/);
    await bad('local', { fields: { apiKey: E2B_SECRET } }, 400, /provider local takes no credential/);
    await bad('e2b', { fields: {} }, 400, /between 1 and 16 fields/);
    await bad('e2b', { fields: { apiKey: 'x'.repeat(20_000) } }, 400, /fields/);
    await bad('e2b', {}, 400, /fields/);
    const del = await api<{ detail: string }>('DELETE', '/v1/provider-credentials/nosuch');
    expect(del.status).toBe(400);
    expect(del.body.detail).toContain('unknown provider "nosuch"');
  }, 90_000);

  it('sets from a variable or stdin, and the pool gets past credential_missing', async () => {
    const e = await mctl(['credentials', 'set', 'e2b', '--from-env', 'MY_E2B'], { env: { MY_E2B: E2B_SECRET } });
    expect(e.code, e.stderr).toBe(0);
    expect(e.stdout.trim()).toBe('credential for e2b set (fields: apiKey)');
    const m = await mctl(['-o', 'json', 'credentials', 'set', 'modal', '--stdin'], {
      input: `tokenId=ak-123\nMODAL_TOKEN_SECRET=${MODAL_SECRET}\n`,
    });
    expect(m.code, m.stderr).toBe(0);
    expect(JSON.parse(m.stdout)).toMatchObject({
      provider: 'modal',
      source: 'stored',
      fields: ['tokenId', 'tokenSecret'],
    });
    const l = await listed();
    expect(l.e2b).toMatchObject({ source: 'stored', fields: ['apiKey'] });
    expect(l.modal).toMatchObject({ source: 'stored' });
    // The pools get past the credential check.
    expect((await verdictOn('e2b-pool')).reason).not.toBe('credential_missing');
    expect((await verdictOn('modal-pool')).reason).not.toBe('credential_missing');
    // A stored credential for a provider with an env fallback wins and can be deleted again.
    const v = await mctl(['credentials', 'set', 'vercel', '--stdin'], { input: `${ENV_SECRET}-org\n` });
    expect(v.code, v.stderr).toBe(0);
    expect((await listed()).vercel?.source).toBe('stored');
    const d = await mctl(['credentials', 'delete', 'vercel']);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout.trim()).toBe('stored credential for vercel deleted');
    expect((await listed()).vercel?.source).toBe('environment');
  }, 60_000);

  it('stays readable across a restart', async () => {
    await srv.stop();
    srv = capture(await srv.restart());
    const l = await listed();
    expect(l.e2b?.source).toBe('stored');
    expect((await verdictOn('e2b-pool')).reason).not.toBe('credential_missing');
  }, 60_000);

  it('leaks no value into answers, outputs, events, the audit log, logs or files', async () => {
    const sessions = await api<{ items: { id: string }[] }>('GET', '/v1/sessions');
    for (const s of sessions.body.items) {
      await api('GET', `/v1/sessions/${s.id}/events`);
      await api('GET', `/v1/sessions/${s.id}/explain`);
    }
    await api('GET', '/v1/audit');
    await api('GET', '/v1/provider-credentials');
    await api('GET', '/v1/pools');
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.isFile()) files.push(p);
      }
    };
    walk(srv.home);
    expect(files.some((f) => f.endsWith('server.log'))).toBe(true);
    expect(files.some((f) => f.endsWith('marionette.db'))).toBe(true);
    // Controls: the scan sees what it should (CLI output, API answers, and plain rows in the files).
    expect(seen.some((t) => t.includes('credential for e2b set (fields: apiKey)'))).toBe(true);
    expect(seen.some((t) => t.includes('"source":"stored"'))).toBe(true);
    expect(files.some((f) => readFileSync(f).includes('vercel-pool'))).toBe(true);
    for (const secret of SECRETS) {
      for (const text of seen)
        expect(text.includes(secret), `an answer or output shows ${secret.slice(0, 6)}…`).toBe(false);
      for (const f of files) expect(readFileSync(f).includes(secret), `${f} holds ${secret.slice(0, 6)}…`).toBe(false);
    }
    // The audit log recorded the changes (and not their values).
    const audit = await api<{ items: { action: string }[] }>('GET', '/v1/audit');
    expect(audit.body.items.map((a) => a.action)).toContain('putProviderCredential');
  });
});

describe('a wrong at-rest key', () => {
  it('stops the start clearly, changing nothing; the old key as previous brings it back', async () => {
    await srv.stop();
    killRunners(srv.home);
    const keyFile = join(srv.home, 'secret.key');
    const oldKey = readFileSync(keyFile, 'utf8').trim();
    const rows = () => {
      const db = new Database(join(srv.home, 'marionette.db'), { readonly: true });
      try {
        return db.prepare('select provider_id, secret from provider_credentials order by provider_id').all();
      } finally {
        db.close();
      }
    };
    const before = rows();
    expect(before).toHaveLength(2);
    writeFileSync(keyFile, `${randomBytes(32).toString('base64')}\n`);
    const failed = await srv.restart().then(
      () => null,
      (e: unknown) => (e as Error).message,
    );
    expect(failed).toMatch(
      /2 stored provider credentials were sealed with key [0-9a-f]{8}, but this server has key [0-9a-f]{8}/,
    );
    expect(failed).toContain('Nothing was changed');
    expect(failed).not.toMatch(/\n\s+at /);
    expect(rows()).toEqual(before);
    srv = await startServer({ home: srv.home, env: { ...SERVER_ENV, MARIONETTE_SECRET_KEY_PREVIOUS: oldKey } });
    expect((await listed()).modal?.source).toBe('stored');
    expect(rows()).not.toEqual(before);
  }, 90_000);
});
