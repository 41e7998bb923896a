/**
 * Secrets stay secret, end to end on a real server with its default local pool:
 * - a value planted in a session's env reaches the task, and is nowhere else afterwards: not in
 *   any file of $MARIONETTE_HOME (database, WAL, logs, workspaces, runner logs), not in any API
 *   answer (sessions, tasks, events, explain, logs) and not in an error that echoes it;
 * - a local task sees none of the server's environment (its token, key, HOME, MARIONETTE_HOME,
 *   agent credentials) and none of the agent's own secrets (registration token, state folder),
 *   and the attack of issue 14 (read $MARIONETTE_HOME/token, or ~/.marionette/token, or
 *   $MARIONETTE_TOKEN, then call the admin API) gets 401.
 *   What holds WITHOUT a nested sandbox (issue 15) and as the same user: the task is not handed the
 *   token, the home's path or the server's environment. A task that already knows the absolute path
 *   of the token file can still read it as the same user; that is what the nested sandbox or
 *   `providers.local.user`-style separation is for (docs/secrets.md), and it is not asserted here;
 * - file modes: home 0700, secret.key, token, database + WAL + SHM, server.log and runner logs
 *   0600, gateway socket 0660 (docker runners' group), workspaces and runner folders 0700; an existing home with loose
 *   modes is narrowed at start;
 * - bad keys: a bad MARIONETTE_SECRET_KEY, a corrupted secret.key, and a wrong key for stored
 *   ciphertext each stop `marionette serve` with a clear message (no stack), losing nothing.
 */
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killRunners, type ServerHandle, startServer, until } from './harness.js';

const PLANTED = `planted-${randomBytes(12).toString('hex')}`;
const SERVER_SECRET = `server-only-${randomBytes(12).toString('hex')}`;
const CREDENTIAL = `sk-test-${randomBytes(12).toString('hex')}`;

let srv: ServerHandle;
let probeDir: string;

/** Every regular file under `dir` (sockets and the like skipped). */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

const mode = (p: string) => statSync(p).mode & 0o777;

async function runTask(sessionId: string, prompt: string): Promise<{ state: string; lines: string[] }> {
  const t = await srv.api<{ id: string }>('POST', `/v1/sessions/${sessionId}/tasks`, { prompt });
  expect(t.status, JSON.stringify(t.body)).toBe(201);
  const done = await until(
    async () => {
      const x = (await srv.api<{ state: string }>('GET', `/v1/tasks/${t.body.id}`)).body;
      return ['succeeded', 'failed', 'timed_out', 'cancelled', 'lost'].includes(x.state) ? x : null;
    },
    `task ${t.body.id} to end`,
    60_000,
  );
  const logs = await srv.api<{ items: { line: string; stream: string }[] }>('GET', `/v1/tasks/${t.body.id}/logs`);
  return { state: done.state, lines: logs.body.items.filter((l) => l.stream !== 'system').map((l) => l.line) };
}

beforeAll(async () => {
  // The probe lives outside the server's home: it tries every way issue 14's attacker found to the
  // admin token and prints the status the admin API answered with each.
  probeDir = mkdtempSync(join(tmpdir(), 'marionette-probe-'));
  writeFileSync(
    join(probeDir, 'probe.mjs'),
    `import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
const api = process.argv[2];
const tokens = [];
for (const p of [process.env.MARIONETTE_HOME && process.env.MARIONETTE_HOME + '/token', homedir() + '/.marionette/token']) {
  if (!p) continue;
  try { tokens.push(readFileSync(p, 'utf8').trim()); console.log('read ' + p); } catch (e) { console.log('cannot read ' + p + ': ' + e.code); }
}
if (process.env.MARIONETTE_TOKEN) tokens.push(process.env.MARIONETTE_TOKEN);
if (tokens.length === 0) tokens.push('');
for (const t of tokens) {
  const r = await fetch(api + '/v1/sessions', { headers: { authorization: 'Bearer ' + t } });
  console.log('admin-api ' + r.status);
}
`,
  );
  srv = await startServer({
    env: { SERVER_ONLY_SECRET: SERVER_SECRET, ANTHROPIC_API_KEY: CREDENTIAL, MARIONETTE_LOG_LEVEL: 'debug' },
  });
});
afterAll(async () => {
  await srv?.destroy();
  rmSync(probeDir, { recursive: true, force: true });
});

describe('a planted session secret', () => {
  let sessionId: string;

  it('reaches the task, and the API shows its name only', async () => {
    const r = await srv.api<{ id: string; request: { env: unknown } }>('POST', '/v1/sessions', {
      agent: 'shell',
      env: { PLANTED_SECRET: PLANTED, OTHER: 'not-secret' },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    sessionId = r.body.id;
    expect(r.body.request.env).toEqual(['OTHER', 'PLANTED_SECRET']);
    // The task proves it has the value without printing it: its SHA-256 only.
    const t = await runTask(sessionId, 'echo hello; printf %s "$PLANTED_SECRET" | sha256sum | cut -c1-64');
    expect(t.state).toBe('succeeded');
    const { createHash } = await import('node:crypto');
    expect(t.lines).toEqual(['hello', createHash('sha256').update(PLANTED).digest('hex')]);
  });

  it("a local task sees none of the server's environment and none of the agent's secrets", async () => {
    const t = await runTask(sessionId, 'env | grep -v "^PLANTED_SECRET=" | sort');
    expect(t.state).toBe('succeeded');
    const env = Object.fromEntries(t.lines.map((l) => [l.split('=')[0], l.slice(l.indexOf('=') + 1)]));
    const text = t.lines.join('\n');
    for (const leaked of [SERVER_SECRET, CREDENTIAL, srv.token]) expect(text).not.toContain(leaked);
    for (const name of [
      'SERVER_ONLY_SECRET',
      'ANTHROPIC_API_KEY',
      'MARIONETTE_HOME',
      'MARIONETTE_TOKEN',
      'MARIONETTE_SECRET_KEY',
      'MARIONETTE_REGISTRATION_TOKEN',
      'MARIONETTE_AGENT_STATE',
      'MARIONETTE_LOG_LEVEL',
    ])
      expect(env, name).not.toHaveProperty(name);
    // Its own HOME, not the server's (the harness runs the server with HOME = its home).
    expect(env.HOME).toBeDefined();
    expect(env.HOME).not.toBe(srv.home);
    expect(env.PATH).toBeTruthy();
    expect(env.OTHER).toBe('not-secret');
    expect(env.MARIONETTE_SESSION_ID).toBe(sessionId);
  });

  it('the attack of issue 14: the task cannot find the admin token, and the admin API answers 401', async () => {
    const t = await runTask(sessionId, `'${process.execPath}' '${join(probeDir, 'probe.mjs')}' '${srv.apiUrl}'`);
    expect(t.state, t.lines.join('\n')).toBe('succeeded');
    const statuses = t.lines.filter((l) => l.startsWith('admin-api '));
    expect(statuses.length, t.lines.join('\n')).toBeGreaterThan(0);
    expect(statuses, t.lines.join('\n')).toEqual(statuses.map(() => 'admin-api 401'));
    expect(t.lines.some((l) => l.startsWith('read '))).toBe(false);
  });

  it('an error that would echo the value shows [redacted]', async () => {
    const r = await srv.api<{ detail: string }>('POST', '/v1/sessions', { agent: 'shell', pool: PLANTED });
    expect(r.status).toBe(400);
    expect(r.body.detail).toBe('unknown pool "[redacted]"');
  });

  it('is in no API answer and in no file of $MARIONETTE_HOME (database, WAL, logs, workspaces)', async () => {
    const answers: unknown[] = [];
    for (const path of [
      `/v1/sessions/${sessionId}`,
      '/v1/sessions?limit=1000',
      `/v1/sessions/${sessionId}/events`,
      `/v1/sessions/${sessionId}/explain`,
      `/v1/sessions/${sessionId}/logs`,
      '/v1/tasks?limit=1000',
      '/v1/runners',
    ]) {
      const r = await srv.api('GET', path);
      expect(r.status, path).toBe(200);
      answers.push(r.body);
    }
    const text = JSON.stringify(answers);
    expect(text).toContain(sessionId);
    expect(text).not.toContain(PLANTED);
    const files = filesUnder(srv.home);
    expect(files.some((f) => f.endsWith('marionette.db-wal'))).toBe(true);
    expect(files.some((f) => f.endsWith('server.log'))).toBe(true);
    const hits = files.filter((f) => readFileSync(f).includes(PLANTED));
    expect(hits).toEqual([]);
    for (const f of files) expect(readFileSync(f).includes(SERVER_SECRET), f).toBe(false);
  });
});

describe('file modes', () => {
  it('home 0700; key, token, database with WAL and SHM, logs 0600; socket 0600; workspaces 0700', () => {
    const h = srv.home;
    expect(mode(h)).toBe(0o700);
    for (const f of ['secret.key', 'token', 'marionette.db', 'marionette.db-wal', 'marionette.db-shm', 'server.log'])
      expect(mode(join(h, f)), f).toBe(0o600);
    expect(mode(join(h, 'run', 'gateway.sock'))).toBe(0o660); // shared with docker runners' group (1000)
    expect(mode(join(h, 'workspaces'))).toBe(0o700);
    for (const ws of readdirSync(join(h, 'workspaces'))) expect(mode(join(h, 'workspaces', ws)), ws).toBe(0o700);
    expect(mode(join(h, 'runners'))).toBe(0o700);
    const runnerFiles = readdirSync(join(h, 'runners'));
    expect(runnerFiles.some((f) => f.endsWith('.log'))).toBe(true);
    for (const f of runnerFiles) expect(mode(join(h, 'runners', f)), f).toBe(f.endsWith('.log') ? 0o600 : 0o700);
  });

  it('an existing home with loose modes is narrowed at start', async () => {
    const home = mkdtempSync(join(tmpdir(), 'marionette-test-'));
    chmodSync(home, 0o755);
    writeFileSync(join(home, 'server.log'), 'old line\n', { mode: 0o644 });
    chmodSync(join(home, 'server.log'), 0o644);
    closeSync(openSync(join(home, 'marionette.db'), 'w', 0o644));
    chmodSync(join(home, 'marionette.db'), 0o644);
    const s = await startServer({ home });
    try {
      expect(mode(home)).toBe(0o700);
      expect(mode(join(home, 'server.log'))).toBe(0o600);
      expect(mode(join(home, 'marionette.db'))).toBe(0o600);
      expect(readFileSync(join(home, 'server.log'), 'utf8').startsWith('old line\n')).toBe(true);
    } finally {
      await s.destroy();
    }
  });
});

describe('bad keys stop the start with a clear error and lose nothing', () => {
  /** Runs `marionette serve` on `home` until it is ready or exits; returns its exit code and output. */
  async function serve(home: string, env: Record<string, string> = {}): Promise<{ code: number; stderr: string }> {
    try {
      const s = await startServer({ home, env });
      await s.stop();
      killRunners(home);
      return { code: 0, stderr: '' };
    } catch (e: unknown) {
      const m = /exited with (\d+):\n([\s\S]*)$/.exec((e as Error).message);
      return { code: Number(m?.[1] ?? -1), stderr: m?.[2] ?? (e as Error).message };
    }
  }

  it('a bad MARIONETTE_SECRET_KEY', async () => {
    const home = mkdtempSync(join(tmpdir(), 'marionette-test-'));
    try {
      const r = await serve(home, { MARIONETTE_SECRET_KEY: 'not-a-key' });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('marionette: MARIONETTE_SECRET_KEY: not a valid secret key (expected 32 bytes');
      expect(r.stderr).toContain('hint: make one with `openssl rand -base64 32`');
      expect(r.stderr).not.toContain('not-a-key');
      expect(r.stderr).not.toMatch(/\n\s+at /);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('a corrupted secret.key is kept as it is', async () => {
    const home = mkdtempSync(join(tmpdir(), 'marionette-test-'));
    try {
      writeFileSync(join(home, 'secret.key'), 'corrupted\n', { mode: 0o600 });
      const r = await serve(home);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`${join(home, 'secret.key')}: not a valid secret key`);
      expect(r.stderr).toContain('the file is corrupted');
      expect(readFileSync(join(home, 'secret.key'), 'utf8')).toBe('corrupted\n');
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('a wrong key for stored ciphertext refuses to start; the right key (or rotation) brings it back', async () => {
    const home = mkdtempSync(join(tmpdir(), 'marionette-test-'));
    try {
      const s = await startServer({ home });
      const created = await s.api<{ id: string }>('POST', '/v1/sessions', {
        agent: 'shell',
        selector: 'nosuch=1',
        env: { PLANTED_SECRET: PLANTED },
      });
      expect(created.status).toBe(201);
      await s.stop();
      killRunners(home);
      const keyFile = join(home, 'secret.key');
      const oldKey = readFileSync(keyFile, 'utf8').trim();
      const stored = () => {
        const db = new Database(join(home, 'marionette.db'), { readonly: true });
        try {
          return (db.prepare('select request from sessions where id = ?').get(created.body.id) as { request: string })
            .request;
        } finally {
          db.close();
        }
      };
      const before = stored();
      expect(before).not.toContain(PLANTED);
      // Another key in the file: refused, naming both key ids; nothing rewritten.
      const newKey = randomBytes(32).toString('base64');
      writeFileSync(keyFile, `${newKey}\n`);
      const r = await serve(home);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(
        /1 stored session env value was sealed with key [0-9a-f]{8}, but this server has key [0-9a-f]{8}/,
      );
      expect(r.stderr).toContain('Nothing was changed');
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(stored()).toBe(before);
      // Rotation: the new key current, the old one previous: it starts and re-seals with the new key.
      const rotated = await serve(home, { MARIONETTE_SECRET_KEY_PREVIOUS: oldKey });
      expect(rotated.code, rotated.stderr).toBe(0);
      const after = stored();
      expect(after).not.toBe(before);
      expect(after).not.toContain(PLANTED);
      // Now the new key alone is enough, and the old one alone is refused.
      expect((await serve(home)).code).toBe(0);
      expect((await serve(home, { MARIONETTE_SECRET_KEY: oldKey })).code).toBe(2);
    } finally {
      killRunners(home);
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('stored rows from before encryption', () => {
  it('keep working and are sealed at the next start', async () => {
    const home = mkdtempSync(join(tmpdir(), 'marionette-test-'));
    mkdirSync(home, { recursive: true });
    try {
      const s = await startServer({ home });
      const created = await s.api<{ id: string }>('POST', '/v1/sessions', { agent: 'shell', env: { LEGACY: 'x' } });
      expect(created.status).toBe(201);
      await s.stop();
      // Write the row as a version without encryption did: its env in plain text.
      const db = new Database(join(home, 'marionette.db'));
      const row = db.prepare('select request from sessions where id = ?').get(created.body.id) as { request: string };
      const req = JSON.parse(row.request) as { env: Record<string, string> };
      req.env = { LEGACY: PLANTED };
      db.prepare('update sessions set request = ? where id = ?').run(JSON.stringify(req), created.body.id);
      db.close();
      const s2 = await s.restart();
      try {
        const raw = new Database(join(home, 'marionette.db'), { readonly: true });
        const text = (
          raw.prepare('select request from sessions where id = ?').get(created.body.id) as { request: string }
        ).request;
        raw.close();
        expect(text).not.toContain(PLANTED);
        expect(text).toContain('"LEGACY":"mse:1:');
        // And the session still works: a task gets the value.
        const t = await s2.api<{ id: string }>('POST', `/v1/sessions/${created.body.id}/tasks`, {
          prompt: 'printf %s "$LEGACY" | wc -c',
        });
        expect(t.status).toBe(201);
        const done = await until(
          async () => {
            const x = (await s2.api<{ state: string }>('GET', `/v1/tasks/${t.body.id}`)).body;
            return ['succeeded', 'failed'].includes(x.state) ? x : null;
          },
          'the task to end',
          60_000,
        );
        expect(done.state).toBe('succeeded');
        const logs = await s2.api<{ items: { line: string; stream: string }[] }>('GET', `/v1/tasks/${t.body.id}/logs`);
        expect(logs.body.items.filter((l) => l.stream === 'stdout').map((l) => l.line.trim())).toEqual([
          String(PLANTED.length),
        ]);
        // Once the server has stopped (its database checkpointed), no old plain copy is left in any file.
        await s2.stop();
        killRunners(home);
        expect(filesUnder(home).filter((f) => readFileSync(f).includes(PLANTED))).toEqual([]);
      } finally {
        await s2.destroy();
      }
    } finally {
      killRunners(home);
      rmSync(home, { recursive: true, force: true });
    }
  });
});
