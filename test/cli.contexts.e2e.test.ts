/**
 * `mctl login`, contexts and API tokens from the CLI, as a person uses them: login checks the
 * token and stores it in a 0600 file, `config use-context` switches, `get-contexts` never prints a
 * token, a bad or unknown context name is a clear error, flags and the environment still override a
 * context, and `mctl tokens create` prints
 * the secret once while `list` never does.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, type CmdResult, run, type ServerHandle, startServer } from './harness.js';

describe('mctl login, contexts and tokens', () => {
  let srv: ServerHandle;
  let cliFile: string;
  /** mctl with no server or token in its environment: only what the contexts say. */
  const mctl = (args: string[], env: Record<string, string> = {}): Promise<CmdResult> =>
    run(BIN.mctl, args, {
      MARIONETTE_HOME: join(srv.home, 'client'),
      MARIONETTE_SERVER: '',
      MARIONETTE_TOKEN: '',
      MARIONETTE_CONTEXT: '',
      MARIONETTE_CLI_CONFIG: cliFile,
      ...env,
    });

  beforeAll(async () => {
    srv = await startServer();
    cliFile = join(srv.home, 'client', 'cli.json');
  }, 60_000);
  afterAll(async () => {
    await srv?.destroy();
  });

  it('creates tokens (the secret printed once), lists them without secrets', async () => {
    const c = await srv.mctl(['tokens', 'create', '--role', 'viewer', '--name', 'cli-viewer', '--expires-in', '1h']);
    expect(c.code, c.stderr).toBe(0);
    const secret = c.stdout.trim();
    expect(secret).toMatch(/^mrt_/);
    expect(c.stderr).toMatch(/token tok_\S+ \(cli-viewer, viewer, expires .*\); it is not shown again/);
    const l = await srv.mctl(['tokens', 'list']);
    expect(l.code, l.stderr).toBe(0);
    expect(l.stdout).toMatch(/cli-viewer\s+viewer\s+\(org\)\s+active/);
    expect(l.stdout).not.toContain(secret);
    const bad = await srv.mctl(['tokens', 'create', '--role', 'root']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--role "root": expected one of admin, operator, member, viewer');
    const dur = await srv.mctl(['tokens', 'create', '--role', 'viewer', '--expires-in', 'fortnight']);
    expect(dur.code).toBe(1);
    expect(dur.stderr).toContain('expiresIn: "fortnight" is not a duration');
    const id = /token (tok_\S+)/.exec(c.stderr)![1]!;
    expect((await srv.mctl(['tokens', 'revoke', id])).code).toBe(0);
    const twice = await srv.mctl(['tokens', 'revoke', id]);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain('already revoked');
    const audit = await srv.mctl(['audit', 'list', '--action', 'revokeApiToken', '--resource', id]);
    expect(audit.code, audit.stderr).toBe(0);
    expect(
      audit.stdout
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(/\s{2,}/)[4]),
    ).toEqual(['failed', 'ok']);
  });

  it('logs in to a context (file 0600), switches contexts, and never prints a token', async () => {
    const viewer = (await srv.mctl(['tokens', 'create', '--role', 'viewer', '--name', 'ctx-viewer'])).stdout.trim();
    // No context yet: the default server, which is not there.
    const none = await mctl(['config', 'current-context']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no current context');

    const a = await mctl(['login', '--server', srv.apiUrl, '--token', srv.token, '--context', 'admin']);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toMatch(/logged in to .* as bootstrap-admin \(admin, org org_\S+\); context admin saved/);
    expect(statSync(cliFile).mode & 0o777).toBe(0o600);
    expect(statSync(join(srv.home, 'client')).mode & 0o777).toBe(0o700);
    const host = new URL(srv.apiUrl).host;
    const v = await mctl(['login', '--server', srv.apiUrl.replace('http://', ''), '--token', viewer]);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toContain(`context ${host} saved`);
    expect(statSync(cliFile).mode & 0o777).toBe(0o600);

    const list = await mctl(['config', 'get-contexts']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`\\*\\s+${host.replace(/\./g, '\\.')}\\s+${srv.apiUrl}`));
    expect(list.stdout).not.toContain(viewer);
    expect(list.stdout).not.toContain(srv.token);
    expect((await mctl(['config', 'get-contexts', '-o', 'json'])).stdout).not.toContain('mrt_');

    // The current context (the viewer) is used: reads work, writes are refused by role.
    expect((await mctl(['pools', 'list'])).code).toBe(0);
    const refused = await mctl(['tokens', 'list']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('role viewer may not call listApiTokens');
    // --context and MARIONETTE_CONTEXT pick another; use-context switches for good.
    expect((await mctl(['--context', 'admin', 'tokens', 'list'])).code).toBe(0);
    expect((await mctl(['tokens', 'list'], { MARIONETTE_CONTEXT: 'admin' })).code).toBe(0);
    const use = await mctl(['config', 'use-context', 'admin']);
    expect(use.code, use.stderr).toBe(0);
    expect((await mctl(['config', 'current-context'])).stdout.trim()).toBe('admin');
    expect((await mctl(['tokens', 'list'])).code).toBe(0);
    // Flags and the environment still win over the context.
    const asViewer = await mctl(['tokens', 'list'], { MARIONETTE_TOKEN: viewer });
    expect(asViewer.stderr).toContain('role viewer may not call listApiTokens');
    expect((await mctl(['--token', viewer, 'tokens', 'list'])).code).toBe(1);
  });

  it('refuses bad and unknown context names, a bad token and a damaged file, saying what is wrong', async () => {
    const bad = await mctl(['config', 'use-context', 'no spaces']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('context name "no spaces" is not valid');
    const unknown = await mctl(['config', 'use-context', 'staging']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no context "staging" \(contexts: admin, /);
    const flag = await mctl(['--context', 'staging', 'pools', 'list']);
    expect(flag.code).toBe(1);
    expect(flag.stderr).toMatch(/no context "staging" in .*cli\.json/);
    const badLogin = await mctl(['login', '--server', srv.apiUrl, '--token', 'mrt_wrong', '--context', 'x']);
    expect(badLogin.code).toBe(1);
    expect(badLogin.stderr).toContain('invalid API token');
    const badName = await mctl(['login', '--server', srv.apiUrl, '--token', srv.token, '--context', '-x']);
    expect(badName.code).not.toBe(0);
    expect(JSON.parse(readFileSync(cliFile, 'utf8')).contexts.x).toBeUndefined();
    const noToken = await mctl(['login', '--server', srv.apiUrl]);
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toContain('mctl login needs --token TOKEN');
    // A damaged file is an error naming it, never a stack trace.
    const saved = readFileSync(cliFile, 'utf8');
    writeFileSync(cliFile, '{"contexts": ');
    const damaged = await mctl(['pools', 'list']);
    expect(damaged.code).toBe(1);
    expect(damaged.stderr).toMatch(/the CLI config file .*cli\.json is not valid JSON/);
    expect(damaged.stderr).not.toMatch(/\n\s+at /);
    writeFileSync(cliFile, saved, { mode: 0o600 });
  });
});
