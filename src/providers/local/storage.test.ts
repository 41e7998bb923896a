/**
 * `destroyStorage` of a local runner: its workspace goes; for a warm runner, whose directory is a
 * link to its session's workspace (src/agent/workspaces.ts), the session's workspace goes too,
 * and nothing outside the provider's workspaces folder is ever removed.
 */
import { existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalSandboxProvider } from './provider.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function home() {
  const h = mkdtempSync(join(tmpdir(), 'marionette-local-storage-'));
  dirs.push(h);
  mkdirSync(join(h, 'workspaces'));
  return { h, provider: new LocalSandboxProvider({ home: h, gateway: 'unix:/nonexistent' }) };
}
const handle = (workspace: string) => ({ providerId: 'local', externalId: '0', metadata: { workspace } });

describe('local destroyStorage', () => {
  it("removes a warm runner's link and the session workspace it leads to", async () => {
    const { h, provider } = home();
    const session = join(h, 'workspaces', 'ses_a');
    mkdirSync(session);
    writeFileSync(join(session, 'f'), 'x');
    const own = join(h, 'workspaces', 'run_a');
    symlinkSync('ses_a', own);
    await provider.destroyStorage(handle(own));
    expect(existsSync(session)).toBe(false);
    expect(() => lstatSync(own)).toThrow();
  });

  it("removes a session runner's own workspace", async () => {
    const { h, provider } = home();
    const ws = join(h, 'workspaces', 'ses_b');
    mkdirSync(ws);
    await provider.destroyStorage(handle(ws));
    expect(existsSync(ws)).toBe(false);
  });

  it('never follows a link out of the workspaces folder', async () => {
    const { h, provider } = home();
    const outside = mkdtempSync(join(tmpdir(), 'marionette-outside-'));
    dirs.push(outside);
    writeFileSync(join(outside, 'keep'), 'x');
    const own = join(h, 'workspaces', 'run_c');
    symlinkSync(outside, own);
    await provider.destroyStorage(handle(own));
    expect(existsSync(join(outside, 'keep'))).toBe(true);
    expect(() => lstatSync(own)).toThrow();
  });
});
