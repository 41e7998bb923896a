/**
 * TLS end to end, with certificates made by `openssl` in a temporary directory: a test CA and a
 * server certificate for 127.0.0.1/localhost. The API over https through mctl (`--ca-file`) and the
 * gateway over wss:// through marionette-agent (`--ca-file`, or a pinned fingerprint) run a task;
 * a wrong CA and a missing CA fail clearly; `wss://` and `https://` against a plain server fail
 * clearly (never a silent downgrade); the self-signed first-run mode prints its fingerprint and
 * keeps its key 0600; mutual TLS accepts a runner with a client certificate the CA signed and
 * refuses one without, or with another CA's.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, run, type ServerHandle, startServer, until } from './harness.js';
import { Agents, createToken, idleRunners } from './pools.helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'marionette-tls-test-'));
const f = (name: string) => join(dir, name);
const agents = new Agents();
const servers: ServerHandle[] = [];

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/** A CA (`<ca>.pem`/`.key`) and certificates it signed (`<leaf>.pem`/`.key`). */
function caAndLeaf(ca: string, leaves: { name: string; cn: string; ext: string }[]): void {
  openssl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '2',
    '-keyout',
    `${ca}.key`,
    '-out',
    `${ca}.pem`,
    '-subj',
    `/CN=${ca}`,
  );
  for (const leaf of leaves) {
    writeFileSync(f(`${leaf.name}.ext`), leaf.ext);
    openssl(
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      `${leaf.name}.key`,
      '-out',
      `${leaf.name}.csr`,
      '-subj',
      `/CN=${leaf.cn}`,
    );
    openssl(
      'x509',
      '-req',
      '-in',
      `${leaf.name}.csr`,
      '-CA',
      `${ca}.pem`,
      '-CAkey',
      `${ca}.key`,
      '-CAcreateserial',
      '-days',
      '2',
      '-out',
      `${leaf.name}.pem`,
      '-extfile',
      `${leaf.name}.ext`,
    );
  }
}

beforeAll(() => {
  caAndLeaf('test-ca', [
    {
      name: 'server',
      cn: 'localhost',
      ext: 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
    },
    { name: 'client', cn: 'runner-1', ext: 'extendedKeyUsage=clientAuth\n' },
  ]);
  caAndLeaf('other-ca', [{ name: 'stranger', cn: 'runner-x', ext: 'extendedKeyUsage=clientAuth\n' }]);
});
afterAll(async () => {
  agents.cleanup();
  for (const s of servers) await s.destroy();
  rmSync(dir, { recursive: true, force: true });
});

async function serve(config: string): Promise<ServerHandle> {
  const s = await startServer({ config: `runners:\n  heartbeat_interval: 300ms\n${config}` });
  servers.push(s);
  return s;
}

/** mctl against a server, with extra flags first (global ones). */
function mctl(srv: ServerHandle, args: string[], env: Record<string, string> = {}) {
  return run(BIN.mctl, args, { MARIONETTE_SERVER: srv.apiUrl, MARIONETTE_TOKEN: srv.token, ...env });
}

describe('TLS with certificate files and a test CA', () => {
  let srv: ServerHandle;
  beforeAll(async () => {
    srv = await serve(`tls:\n  cert: ${f('server.pem')}\n  key: ${f('server.key')}\n`);
  });

  it('serves the API over https: mctl with --ca-file works, without it or with another CA fails clearly', async () => {
    expect(srv.apiUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const ok = await mctl(srv, ['--ca-file', f('test-ca.pem'), 'pools', 'list']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('local');
    const env = await mctl(srv, ['pools', 'list'], { MARIONETTE_CA_FILE: f('test-ca.pem') });
    expect(env.code, env.stderr).toBe(0);
    const none = await mctl(srv, ['pools', 'list']);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY/);
    expect(none.stderr).toContain("the server's certificate is not trusted: pass --ca-file");
    const wrong = await mctl(srv, ['--ca-file', f('other-ca.pem'), 'pools', 'list']);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain("the server's certificate is not trusted");
    expect(wrong.stderr).not.toMatch(/\n\s+at /);
  });

  it('serves the gateway over wss: an agent with --ca-file joins and runs a task', async () => {
    await mctl(srv, ['--ca-file', f('test-ca.pem'), 'pools', 'create', 'secure', '--mode', 'pool']);
    const { token } = await createToken(
      { ...srv, mctl: (args) => mctl(srv, ['--ca-file', f('test-ca.pem'), ...args]) },
      ['--pool', 'secure'],
    );
    const a = agents.start(srv, [
      '--server',
      `wss://127.0.0.1:${srv.gatewayPort}`,
      '--ca-file',
      f('test-ca.pem'),
      '--token',
      token,
      '--name',
      'tls-runner',
    ]);
    await until(
      async () => (a.output().includes('registered as runner') ? true : null),
      `registration:\n${a.output()}`,
    );
    const created = await mctl(srv, [
      '--ca-file',
      f('test-ca.pem'),
      '-o',
      'json',
      'sessions',
      'create',
      '--agent',
      'shell',
      '--pool',
      'secure',
      '--prompt',
      'echo over-tls',
      '--wait',
    ]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain('succeeded');
  });

  it('refuses a gateway whose certificate another CA signed, or no CA at all: exits non-zero, says why', async () => {
    const { token } = await createToken(
      { ...srv, mctl: (args) => mctl(srv, ['--ca-file', f('test-ca.pem'), ...args]) },
      ['--pool', 'secure'],
    );
    const wss = `wss://127.0.0.1:${srv.gatewayPort}`;
    const wrong = agents.start(srv, ['--server', wss, '--ca-file', f('other-ca.pem'), '--token', token]);
    expect(await wrong.exited).not.toBe(0);
    expect(wrong.output()).toContain("the gateway's certificate is not trusted");
    const none = agents.start(srv, ['--server', wss, '--token', token]);
    expect(await none.exited).not.toBe(0);
    expect(none.output()).toMatch(/not trusted \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)/);
    // A wrong pin is refused before any secret is sent.
    const pinned = agents.start(srv, ['--server', wss, '--tls-fingerprint', 'AB'.repeat(32), '--token', token]);
    expect(await pinned.exited).not.toBe(0);
    expect(pinned.output()).toContain('not the pinned');
    // TLS settings with a plain address: refused, never a silent plain connection.
    const plain = agents.start(srv, ['--ca-file', f('test-ca.pem'), '--token', token]);
    expect(await plain.exited).not.toBe(0);
    expect(plain.output()).toContain('is plain (no TLS), but TLS settings were given');
  });
});

describe('no silent downgrade: wss:// and https:// against a plain server', () => {
  it('fails with a clear error from the agent and from mctl', async () => {
    const srv = await serve('');
    expect(srv.apiUrl).toMatch(/^http:\/\//);
    expect((await srv.mctl(['pools', 'create', 'plain', '--mode', 'pool'])).code).toBe(0);
    const { token } = await createToken(srv, ['--pool', 'plain']);
    const a = agents.start(srv, ['--server', `wss://127.0.0.1:${srv.gatewayPort}`, '--token', token]);
    expect(await a.exited).not.toBe(0);
    expect(a.output()).toContain('the gateway there does not speak TLS');
    const r = await mctl(srv, ['pools', 'list'], { MARIONETTE_SERVER: srv.apiUrl.replace('http://', 'https://') });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('the server does not speak TLS at that address');
  });
});

describe('self-signed first run and mutual TLS for runners', () => {
  let srv: ServerHandle;
  let fingerprint: string;
  beforeAll(async () => {
    srv = await serve(`tls:\n  self_signed: true\n  client_ca: ${f('test-ca.pem')}\n`);
    fingerprint = execFileSync(
      'openssl',
      ['x509', '-in', join(srv.home, 'tls', 'cert.pem'), '-noout', '-fingerprint', '-sha256'],
      { encoding: 'utf8' },
    )
      .trim()
      .split('=')[1]!;
  });

  it('makes the certificate in the home (key 0600) and prints its fingerprint', async () => {
    expect(statSync(join(srv.home, 'tls', 'key.pem')).mode & 0o777).toBe(0o600);
    expect(fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    // The start says it (the banner on stderr, and the log).
    const log = readFileSync(join(srv.home, 'server.log'), 'utf8');
    expect(log).toContain(`"tlsFingerprint":"${fingerprint}"`);
    const ok = await mctl(srv, ['--ca-file', join(srv.home, 'tls', 'cert.pem'), 'pools', 'list']);
    expect(ok.code, ok.stderr).toBe(0);
  });

  it('accepts a runner with a client certificate the CA signed (pinned server), refuses one without or from another CA', async () => {
    const ca = join(srv.home, 'tls', 'cert.pem');
    const api = (args: string[]) => mctl(srv, ['--ca-file', ca, ...args]);
    expect((await api(['pools', 'create', 'mutual', '--mode', 'pool'])).code).toBe(0);
    const { token } = await createToken({ ...srv, mctl: api }, ['--pool', 'mutual']);
    const wss = `wss://127.0.0.1:${srv.gatewayPort}`;
    const good = agents.start(srv, [
      '--server',
      wss,
      '--tls-fingerprint',
      fingerprint,
      '--tls-cert',
      f('client.pem'),
      '--tls-key',
      f('client.key'),
      '--token',
      token,
      '--name',
      'mutual-ok',
    ]);
    await idleRunners({ ...srv, mctl: api }, 'mutual', 1);
    expect(good.proc.exitCode).toBeNull();
    const without = agents.start(srv, ['--server', wss, '--ca-file', ca, '--token', token]);
    expect(await without.exited).not.toBe(0);
    expect(without.output()).toContain('this gateway requires a client certificate (mutual TLS)');
    const stranger = agents.start(srv, [
      '--server',
      wss,
      '--ca-file',
      ca,
      '--tls-cert',
      f('stranger.pem'),
      '--tls-key',
      f('stranger.key'),
      '--token',
      token,
    ]);
    expect(await stranger.exited).not.toBe(0);
    expect(stranger.output()).toContain('client certificate refused');
    expect(stranger.output()).not.toContain('registered as runner');
    // Both refusals are recorded.
    expect(readFileSync(join(srv.home, 'server.log'), 'utf8')).toContain('"kind":"client_certificate"');
    expect(readFileSync(join(srv.home, 'tls', 'cert.pem'), 'utf8')).toContain('BEGIN CERTIFICATE');
  });
});
