/**
 * Where mctl's server and token come from (flags, environment, contexts, defaults), and that a
 * context's token is never sent to another server than its own.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCliConfig } from './cli.js';

describe('loadCliConfig', () => {
  const home = mkdtempSync(join(tmpdir(), 'mrn-cli-'));
  const file = join(home, 'cli.json');
  writeFileSync(
    file,
    JSON.stringify({
      currentContext: 'prod',
      contexts: {
        prod: { server: 'https://prod.example:8080', token: 'mrt_prod', caFile: '/ca.pem' },
        dev: { server: 'http://127.0.0.1:8080', token: 'mrt_dev' },
      },
    }),
  );
  const env = { MARIONETTE_HOME: home, MARIONETTE_CLI_CONFIG: file };
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it('uses the current context, or the one named by --context or MARIONETTE_CONTEXT', () => {
    expect(loadCliConfig({}, env)).toMatchObject({
      server: 'https://prod.example:8080',
      token: 'mrt_prod',
      context: 'prod',
      caFile: '/ca.pem',
    });
    expect(loadCliConfig({ context: 'dev' }, env)).toMatchObject({ token: 'mrt_dev', context: 'dev', caFile: null });
    expect(loadCliConfig({}, { ...env, MARIONETTE_CONTEXT: 'dev' }).token).toBe('mrt_dev');
    // Empty variables are unset ones.
    const empty = { ...env, MARIONETTE_SERVER: '', MARIONETTE_TOKEN: '', MARIONETTE_CONTEXT: '' };
    expect(loadCliConfig({}, empty)).toMatchObject({ server: 'https://prod.example:8080', token: 'mrt_prod' });
    expect(() => loadCliConfig({ context: 'qa' }, env)).toThrow(/no context "qa" in .* \(contexts: prod, dev\)/);
  });

  it('lets flags and the environment win, and keeps a context token to its own server', () => {
    expect(loadCliConfig({ token: 'mrt_flag' }, env)).toMatchObject({
      server: 'https://prod.example:8080',
      token: 'mrt_flag',
    });
    expect(loadCliConfig({}, { ...env, MARIONETTE_TOKEN: 'mrt_env' }).token).toBe('mrt_env');
    // Another server: the context's token stays home (no token file here: none at all).
    const other = loadCliConfig({ server: 'http://evil.example' }, env);
    expect(other).toMatchObject({ server: 'http://evil.example', token: null, context: null, caFile: null });
    expect(loadCliConfig({}, { ...env, MARIONETTE_SERVER: 'evil.example:80' }).token).toBeNull();
    // The same server spelled with a trailing slash is the context's own.
    expect(loadCliConfig({ server: 'https://prod.example:8080/' }, env).token).toBe('mrt_prod');
  });

  it('works with no file, and names a damaged one', () => {
    const none = loadCliConfig({}, { MARIONETTE_HOME: home, MARIONETTE_CLI_CONFIG: join(home, 'none.json') });
    expect(none).toMatchObject({ server: 'http://127.0.0.1:8080', token: null, context: null });
    const bad = join(home, 'bad.json');
    writeFileSync(bad, '{"contexts": {"x": {"server": 1}}}');
    expect(() => loadCliConfig({}, { MARIONETTE_CLI_CONFIG: bad })).toThrow(/context "x" needs "server" and "token"/);
  });
});
