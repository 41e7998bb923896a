/**
 * exec, cp, diff and push on a session whose tasks run in a nested sandbox (bubblewrap, gVisor):
 * each runs inside a sandbox made like the tasks' (so it sees the workspace as the agent does and
 * none of the runner's files: the server's home is out of sight), a git filter the agent planted
 * in its repository runs inside it (never on the runner), and the push still reaches the
 * repository with the commit; `exec -it` gets its terminal there too (under bubblewrap; gVisor refuses it, saying so). MARIONETTE_REQUIRE_SANDBOX=1 (CI) makes a missing runtime a failure.
 */

import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pty from '@lydell/node-pty';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectRuntimes } from '../src/agent/sandbox/detect.js';
import { makeRepo, type TestRepo } from './git.support.js';
import { BIN, type ServerHandle, startServer, until } from './harness.js';

const required = process.env.MARIONETTE_REQUIRE_SANDBOX === '1';
const found = detectRuntimes(process.env.PATH ?? '').found;

for (const runtime of ['bubblewrap', 'gvisor'] as const)
  describe.skipIf(!found.has(runtime) && !required)(`session ops in a ${runtime} sandbox`, () => {
    let srv: ServerHandle;
    let repo: TestRepo;
    beforeAll(async () => {
      srv = await startServer();
      repo = makeRepo();
      const p = await srv.api('POST', '/v1/pools', {
        name: 'boxed',
        provider: 'local',
        sandboxMode: 'runner-creates-sandbox',
        sandboxConfig: { sandbox: { runtime } },
      });
      expect(p.status, JSON.stringify(p.body)).toBe(201);
    }, 60_000);
    afterAll(async () => {
      await srv?.destroy();
      repo?.cleanup();
    });

    it('exec, cp, diff and push run inside it', async () => {
      const escaped = join(srv.home, 'escaped');
      // The agent plants a clean filter that would write into the server's home if git ran it on the runner.
      const prompt = [
        'echo changed >> README',
        'echo new > NEW',
        `git config filter.trap.clean "touch .trap-ran; touch ${escaped}; cat"`,
        "echo '* filter=trap' > .gitattributes",
      ].join('; ');
      const r = await srv.mctl([
        '-o',
        'json',
        'sessions',
        'create',
        '--agent',
        'shell',
        '--pool',
        'boxed',
        '--repo',
        `file://${repo.bare}`,
        '--prompt',
        prompt,
        '--wait',
        '--timeout',
        '120s',
      ]);
      expect(r.code, r.stderr).toBe(0);
      const id = (JSON.parse(r.stdout) as { id: string }).id;
      await until(async () => {
        const s = await srv.api<{ state: string; runnerId: string | null }>('GET', `/v1/sessions/${id}`);
        return s.body.runnerId && s.body.state === 'idle';
      }, 'the session to be idle with its runner');

      // exec: the workspace as the agent left it; the server's home (on the runner's disk) is not there.
      const ex = await srv.mctl([
        'sessions',
        'exec',
        id,
        '--',
        'bash',
        '-c',
        `cat NEW; test -e ${srv.home}/token && echo home-visible || echo home-hidden; exit 5`,
      ]);
      expect(ex.code, ex.stderr).toBe(5);
      expect(ex.stdout).toBe('new\nhome-hidden\n');

      // cp both ways.
      const local = join(srv.home, '..', `cp-${runtime}-${process.pid}.txt`);
      writeFileSync(local, 'from-outside\n');
      try {
        const put = await srv.mctl(['sessions', 'cp', local, `${id}:copied.txt`]);
        expect(put.code, put.stderr).toBe(0);
        const seen = await srv.mctl(['sessions', 'exec', id, '--', 'cat', 'copied.txt']);
        expect(seen.stdout).toBe('from-outside\n');
        const get = await srv.mctl(['sessions', 'cp', `${id}:NEW`, '-']);
        expect(get.code, get.stderr).toBe(0);
        expect(get.stdout).toContain('new\n');
      } finally {
        execFileSync('rm', ['-f', local]);
      }

      // diff: git (and the agent's filter) ran in the sandbox, not on the runner.
      const diff = await srv.mctl(['sessions', 'diff', id]);
      expect(diff.code, diff.stderr).toBe(0);
      expect(diff.stdout).toContain('+changed');
      expect(diff.stdout).toContain('+new');
      expect(existsSync(escaped)).toBe(false);
      // The filter did run (it left its mark in the workspace), only not where it could reach the runner.
      const ran = await srv.mctl(['sessions', 'exec', id, '--', 'test', '-e', '.trap-ran']);
      expect(ran.code, 'the planted filter ran during diff').toBe(0);

      // push: committed in the sandbox, pushed with the commit reaching the repository.
      const push = await srv.mctl(['-o', 'json', 'sessions', 'push', id, '--branch', `agent/${runtime}`]);
      expect(push.code, push.stderr).toBe(0);
      const { commit } = JSON.parse(push.stdout) as { commit: string };
      const shown = execFileSync('git', ['--git-dir', repo.bare, 'show', `${commit}:NEW`], { encoding: 'utf8' });
      expect(shown).toBe('new\n');
      expect(existsSync(escaped)).toBe(false);

      // exec -it: under bubblewrap the terminal's shell is in the sandbox too; gVisor refuses it, saying why.
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
      Object.assign(env, { MARIONETTE_SERVER: srv.apiUrl, MARIONETTE_TOKEN: srv.token, MARIONETTE_HOME: srv.home });
      const term = pty.spawn(
        process.execPath,
        [BIN.mctl, 'sessions', 'exec', '-it', id, '--', 'bash', '--norc', '-i'],
        {
          name: 'xterm',
          cols: 90,
          rows: 20,
          cwd: srv.home,
          env,
        },
      );
      let out = '';
      term.onData((d) => {
        out += d;
      });
      const exit = new Promise<number>((resolve) => term.onExit((e) => resolve(e.exitCode)));
      if (runtime === 'gvisor') {
        expect(await exit).toBe(1);
        expect(out).toContain('interactive terminals are not available in a gVisor sandbox yet');
      } else {
        await until(async () => /[#$] $/.test(out), 'the sandboxed shell prompt', 120_000);
        term.write(
          `echo "in""-box:$(cat NEW)"; test -e ${srv.home}/token || echo "home-""hidden"; stty size; exit 4\r`,
        );
        expect(await exit).toBe(4);
        expect(out).toContain('in-box:new');
        expect(out).toContain('home-hidden');
        expect(out).toContain('20 90');
      }
      await srv.mctl(['sessions', 'cancel', id]);
    }, 300_000);
  });
