/**
 * @module `marionette images build --with AGENTS`: the pinned agent CLIs are installed with npm
 * on this machine and copied into the image, linked from /usr/local/bin; the image's label lists
 * them, `--if-missing` rebuilds an image that lacks a CLI asked for, and an unknown name is a
 * clear error before anything is installed.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { AGENT_CLI_PACKAGES } from '../src/providers/docker/agent-clis.js';
import { removeImage } from '../src/providers/docker/provider.js';
import { docker, dockerDescribe } from './docker.support.js';
import { BIN, run } from './harness.js';

const execFileP = promisify(execFile);

dockerDescribe('marionette images build --with', () => {
  const home = mkdtempSync(join(tmpdir(), 'marionette-test-image-agents-'));
  const tag = `marionette/agent-test-with:${Date.now().toString(36)}`;
  const env = { MARIONETTE_HOME: home, HOME: home };
  afterAll(async () => {
    await removeImage(docker, tag).catch(() => undefined);
    rmSync(home, { recursive: true, force: true });
  });

  it('refuses an unknown agent, naming the known ones, before installing anything', async () => {
    const r = await run(BIN.marionette, ['images', 'build', '--tag', tag, '--with', 'claude,nosuch'], env);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('"nosuch": unknown agent');
    expect(r.stderr).toContain('claude, codex, gemini, opencode');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('builds an image whose claude runs, labelled with what it holds; --if-missing rebuilds one without it', async () => {
    // A plain image under the tag first: --if-missing with --with must not take it as done.
    const plain = await run(BIN.marionette, ['images', 'build', '--tag', tag], env, 240_000);
    expect(plain.code, plain.stderr).toBe(0);
    const r = await run(
      BIN.marionette,
      ['images', 'build', '--tag', tag, '--with', 'claude', '--if-missing'],
      env,
      600_000,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`built ${tag}`);
    const info = await docker.getImage(tag).inspect();
    const version = AGENT_CLI_PACKAGES.claude!.version;
    expect(info.Config.Labels?.['io.marionette.agents']).toBe(`claude@${version}`);
    const { stdout } = await execFileP(
      'docker',
      ['run', '--rm', '--network', 'none', '--entrypoint', '/usr/local/bin/claude', tag, '--version'],
      { timeout: 120_000 },
    );
    expect(stdout).toContain(version);
    // Asked again for what it holds: nothing to do.
    const again = await run(
      BIN.marionette,
      ['images', 'build', '--tag', tag, '--with', 'claude', '--if-missing'],
      env,
      120_000,
    );
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('already exists');
  }, 900_000);
});
