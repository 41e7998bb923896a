/**
 * `mctl completion bash|zsh|fish`: the scripts are valid for their shell and complete nouns, verbs
 * and a verb's options, run through a real bash (global options and their values are skipped).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, run } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'marionette-completion-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What the bash function offers for the words typed so far (the last one being completed). */
function complete(script: string, words: string[]): string[] {
  const file = join(dir, 'c.bash');
  writeFileSync(file, script);
  const quoted = words.map((w) => `'${w}'`).join(' ');
  const out = execFileSync(
    'bash',
    [
      '-c',
      `source ${file}; COMP_WORDS=(mctl ${quoted}); COMP_CWORD=${words.length}; _mctl; printf '%s\\n' "\${COMPREPLY[@]}"`,
    ],
    { encoding: 'utf8' },
  );
  return out.split('\n').filter(Boolean);
}

describe('mctl completion', () => {
  it('bash completes nouns, verbs and options', async () => {
    const r = await run(BIN.mctl, ['completion', 'bash']);
    expect(r.code, r.stderr).toBe(0);
    execFileSync('bash', ['-n'], { input: r.stdout });
    expect(complete(r.stdout, ['se'])).toEqual(['sessions', 'session']);
    expect(complete(r.stdout, ['sessions', 'ex'])).toEqual(['exec', 'explain']);
    expect(complete(r.stdout, ['-o', 'json', 'sessions', 'create', '--re'])).toEqual(['--repo', '--ref']);
    expect(complete(r.stdout, ['--server', 'http://x', 'kits', ''])).toEqual(
      expect.arrayContaining(['list', 'show', 'create', 'delete']),
    );
  });

  it('zsh and fish scripts; an unknown shell is refused', async () => {
    const z = await run(BIN.mctl, ['completion', 'zsh']);
    expect(z.stdout.startsWith('#compdef mctl')).toBe(true);
    const f = await run(BIN.mctl, ['completion', 'fish']);
    expect(f.stdout).toContain(
      'complete -c mctl -n "__fish_seen_subcommand_from sessions; and __fish_seen_subcommand_from create" -l repo',
    );
    const bad = await run(BIN.mctl, ['completion', 'tcsh']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('expected bash, zsh or fish');
  });
});
