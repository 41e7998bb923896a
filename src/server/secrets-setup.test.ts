/**
 * The server's start-up secrets: its logger redacts known values in what reaches server.log (the
 * real LogFile), and the gateway socket is the owner's alone, or shared with the docker runners'
 * group only when a docker provider is configured.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ProvidersConfig } from '../providers/registry.js';
import { LogFile } from './logfile.js';
import { REDACTED, Redactor } from './redact.js';
import { applyGatewaySocketAccess, gatewaySocketAccess, serverLogger } from './secrets-setup.js';

const dirs: string[] = [];
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), 'marionette-setup-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('serverLogger', () => {
  it('writes no known secret value to server.log, whatever field it is in', async () => {
    const file = join(dir(), 'server.log');
    const logFile = new LogFile(file);
    const redactor = new Redactor();
    const log = serverLogger('info', redactor, logFile);
    redactor.add('sk-live-0123456789');
    log.info({ env: { KEY: 'sk-live-0123456789' } }, 'task env has sk-live-0123456789');
    log.error({ err: new Error('failed with sk-live-0123456789') }, 'request failed');
    await logFile.close();
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain('sk-live-0123456789');
    expect(text.split(REDACTED).length - 1).toBe(4);
    for (const line of text.trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });
});

describe('the gateway socket', () => {
  const listen = async (path: string) => {
    const s = createServer();
    await new Promise<void>((resolve) => s.listen(path, resolve));
    return s;
  };

  it("is 0660 with the docker user's group (default 1000), 0600 for a docker user without a group", async () => {
    expect(gatewaySocketAccess({ providers: {} as ProvidersConfig })).toEqual({ mode: 0o660, gid: 1000 });
    const noGroup = { providers: { docker: { user: '1000' } } as unknown as ProvidersConfig };
    expect(gatewaySocketAccess(noGroup)).toEqual({ mode: 0o600, gid: null });
    const docker = { providers: { docker: { user: '1000:1234' } } as unknown as ProvidersConfig };
    expect(gatewaySocketAccess(docker)).toEqual({ mode: 0o660, gid: 1234 });
    const path = join(dir(), 'g.sock');
    const s = await listen(path);
    try {
      applyGatewaySocketAccess(path, noGroup, () => {});
      expect(statSync(path).mode & 0o777).toBe(0o600);
      const warnings: string[] = [];
      applyGatewaySocketAccess(path, docker, (m) => warnings.push(m));
      if (process.getuid?.() === 0) {
        // Root can give the socket the group: 0660, group 1234, no warning.
        expect(statSync(path).mode & 0o777).toBe(0o660);
        expect(statSync(path).gid).toBe(1234);
        expect(warnings).toEqual([]);
      } else {
        // Not root and not in that group: open to all, with a warning saying why.
        expect(statSync(path).mode & 0o777).toBe(0o666);
        expect(warnings[0]).toMatch(/cannot give the gateway socket group 1234/);
      }
    } finally {
      s.close();
    }
  });
});
