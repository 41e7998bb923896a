import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildSeccompFilter, seccompArch } from './seccomp.js';

const dir = mkdtempSync(join(tmpdir(), 'mseccomp-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const arch = seccompArch();
const hasBwrap = spawnSync('bwrap', ['--version']).status === 0;
const required = process.env.MARIONETTE_REQUIRE_SANDBOX === '1';

describe('seccomp filter', () => {
  it('is a whole number of 8-byte instructions, within the BPF limit', () => {
    for (const a of ['x64', 'arm64'] as const) {
      const b = buildSeccompFilter(a);
      expect(b.length % 8).toBe(0);
      expect(b.length / 8).toBeLessThan(4096);
    }
  });

  it.skipIf((!hasBwrap || arch === null) && !required)(
    'under bwrap: namespaces, mount and keyctl refused; ordinary work and forks allowed',
    () => {
      const file = join(dir, 'filter.bpf');
      writeFileSync(file, buildSeccompFilter(arch as 'x64'));
      const script = [
        'unshare -U true 2>/dev/null; echo unshare=$?',
        'mount -t tmpfs x /tmp 2>/dev/null; echo mount=$?',
        'bash -c "sleep 0.05 & wait"; echo fork=$?',
        'cat /etc/hostname >/dev/null; echo read=$?',
        'grep ^Seccomp: /proc/self/status',
      ].join('; ');
      const r = spawnSync(
        'bash',
        [
          '-c',
          `exec 3<${file}; exec bwrap --unshare-all --die-with-parent --ro-bind / / --proc /proc --dev /dev --tmpfs /tmp --cap-drop ALL --seccomp 3 sh -c '${script}'`,
        ],
        // stdin /dev/null, as a task has it: bash given a socket for stdin (as a Node pipe is) takes
        // itself for a remote shell and reads ~/.bashrc, whose noise is not under test.
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
      );
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/unshare=1/);
      expect(r.stdout).toMatch(/mount=(1|32)/);
      expect(r.stdout).toMatch(/fork=0/);
      expect(r.stdout).toMatch(/read=0/);
      expect(r.stdout).toMatch(/Seccomp:\s+2/);
    },
  );
});
