/**
 * What the built `mctl` loads: a person waits for every module a command loads, so the bundle
 * (dist/mctl/, see rolldown.config.mjs) keeps what a command does not use off its path. Checked
 * through Node's own list of the built-in modules a process loaded (`process.moduleLoadList`),
 * printed by a preload at exit, for a list command against a port nothing listens on (the
 * connection is refused: the command's whole path runs, and ends at once).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'mctl-bundle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The built-in modules `mctl ...args` loaded, and its stderr. */
function loaded(args: string[]): Promise<{ modules: string[]; stderr: string }> {
  const preload = join(dir, 'modules.cjs');
  writeFileSync(
    preload,
    "process.on('exit', () => require('node:fs').writeSync(2, '\\nMODULES ' + JSON.stringify(process.moduleLoadList) + '\\n'));\n",
  );
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--require', preload, BIN.mctl, ...args],
      { env: { ...process.env, MARIONETTE_HOME: dir, HOME: dir }, timeout: 60_000 },
      (_err, _stdout, stderr) => {
        const line = /^MODULES (.*)$/m.exec(stderr);
        if (!line) return reject(new Error(`no module list in mctl's stderr: ${stderr}`));
        const modules = (JSON.parse(line[1]!) as string[])
          .filter((m) => m.startsWith('NativeModule '))
          .map((m) => m.slice('NativeModule '.length));
        resolve({ modules, stderr });
      },
    );
  });
}

describe('the mctl bundle', () => {
  it('runs a list command without loading child_process (commander requires it for a feature mctl does not use)', async () => {
    const r = await loaded(['pools', 'list', '--server', 'http://127.0.0.1:1', '--token', 't']);
    // The command ran to its request: it says the server is unreachable.
    expect(r.stderr).toMatch(/mctl: .*127\.0\.0\.1:1/);
    expect(r.modules).toContain('http');
    expect(r.modules).not.toContain('child_process');
    expect(r.modules).not.toContain('dgram');
  });
});
