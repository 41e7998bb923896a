import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadAgentConfig } from './agent.js';

/**
 * `MARIONETTE_REGISTRATION_TOKEN_FILE`: the token in a file (a Kubernetes Secret mounted in the
 * runner's pod), so it is in no environment or pod spec. The variable and the flag win over it.
 */
describe("marionette-agent's registration token from a file", () => {
  const dir = mkdtempSync(join(tmpdir(), 'agent-token-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const gw = { MARIONETTE_GATEWAY: 'ws://127.0.0.1:9090' };

  it('reads the file, trimmed; the flag and MARIONETTE_REGISTRATION_TOKEN win over it', () => {
    const file = join(dir, 'token');
    writeFileSync(file, 'mrg_from-file\n');
    expect(loadAgentConfig({}, { ...gw, MARIONETTE_REGISTRATION_TOKEN_FILE: file }).registrationToken).toBe(
      'mrg_from-file',
    );
    const both = { ...gw, MARIONETTE_REGISTRATION_TOKEN_FILE: file, MARIONETTE_REGISTRATION_TOKEN: 'mrg_env' };
    expect(loadAgentConfig({}, both).registrationToken).toBe('mrg_env');
    expect(loadAgentConfig({ token: 'mrg_flag' }, both).registrationToken).toBe('mrg_flag');
  });

  it('a missing or empty file is an error naming the variable and the file', () => {
    const missing = join(dir, 'nope');
    expect(() => loadAgentConfig({}, { ...gw, MARIONETTE_REGISTRATION_TOKEN_FILE: missing })).toThrow(
      `MARIONETTE_REGISTRATION_TOKEN_FILE: cannot read ${missing}: ENOENT`,
    );
    const empty = join(dir, 'empty');
    writeFileSync(empty, '  \n');
    expect(() => loadAgentConfig({}, { ...gw, MARIONETTE_REGISTRATION_TOKEN_FILE: empty })).toThrow(/is empty/);
  });
});
