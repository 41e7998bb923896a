/**
 * Escapes from a nested sandbox, each attempted by a real task (the agent's RunningTask, the code
 * that runs every task) in both runtimes, and each required to fail.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { TaskAssignment, TaskSandbox } from '../../protocol/messages.js';
import { RunningTask, type TaskResult } from '../task.js';
import { detectCgroups } from './cgroup.js';
import { SandboxHost } from './index.js';
import type { SandboxRuntime } from './types.js';

const required = process.env.MARIONETTE_REQUIRE_SANDBOX === '1';
const root = mkdtempSync(join(tmpdir(), 'msandbox-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// A runner's world: the server's home with its token, the runner's state dir with its
// credential, the user's home, and two sessions' workspaces.
const serverHome = join(root, 'home', '.marionette');
const stateDir = join(root, 'state');
const userHome = join(root, 'home');
const wsA = join(serverHome, 'workspaces', 'sess_a');
const wsB = join(serverHome, 'workspaces', 'sess_b');
for (const d of [serverHome, stateDir, wsA, wsB]) mkdirSync(d, { recursive: true });
writeFileSync(join(serverHome, 'token'), 'server-token-secret');
writeFileSync(join(stateDir, 'credential.json'), '{"credential":"runner-cred-secret"}');
writeFileSync(join(wsB, 'private.txt'), 'other-session-secret');
writeFileSync(join(userHome, '.netrc'), 'user-login-secret');

const host = SandboxHost.detect({ path: process.env.PATH ?? '', home: userHome });
const cgroups = detectCgroups();

function assignment(
  command: string,
  sandbox: Partial<TaskSandbox>,
  extra: Partial<TaskAssignment> = {},
): TaskAssignment {
  return {
    taskId: `task_${Math.random().toString(36).slice(2, 10)}`,
    sessionId: 'sess_a',
    agent: 'shell',
    command: ['bash', '-c', command],
    env: {},
    workspace: null,
    setup: [],
    resumeAfterSeq: 0,
    outcome: 'exit',
    timeoutMs: null,
    ...extra,
    sandbox: {
      runtime: sandbox.runtime ?? 'auto',
      network: sandbox.network ?? 'none',
      binds: sandbox.binds ?? [],
      limits: sandbox.limits ?? { memoryBytes: null, cpus: null, pids: null },
    },
  };
}

async function run(a: TaskAssignment, ws = wsA): Promise<{ r: TaskResult; out: string[]; sys: string[] }> {
  const out: string[] = [];
  const sys: string[] = [];
  const t = new RunningTask(
    a,
    ws,
    { line: (s, l) => (s === 'system' ? sys : out).push(l), started: () => {} },
    null,
    host,
  );
  return { r: await t.done, out, sys };
}

const ESCAPES = [
  `cat ${wsB}/private.txt`,
  `cat ${serverHome}/token`,
  `cat ${stateDir}/credential.json`,
  `cat ${userHome}/.netrc`,
  'cat /root/.bashrc /root/.profile',
  'cat /etc/shadow | grep -c ":"',
  'echo x > /etc/marionette-escape',
  `cat /proc/${process.pid}/cmdline`,
].map(
  (c, i) => `if (${c}) >/dev/null 2>&1; then echo "ESCAPED ${i}: ${c.replace(/"/g, '')}"; else echo "held ${i}"; fi`,
);

for (const runtime of ['bubblewrap', 'gvisor'] as const satisfies readonly SandboxRuntime[]) {
  const have = host.runtimes.includes(runtime);
  describe.skipIf(!have && !required)(`nested sandbox: ${runtime}`, () => {
    it('the task works in its own workspace, and every escape fails', async () => {
      const script = [
        'echo hello > mine.txt && cat mine.txt',
        // The sandbox's /tmp is its own: what is written there never reaches the host's.
        `echo x > /tmp/marionette-escape-${process.pid}`,
        ...ESCAPES,
        // bubblewrap: the seccomp filter refuses new namespaces (gVisor's namespaces are its own kernel's, not the host's).
        ...(runtime === 'bubblewrap'
          ? ['(unshare -U true) 2>/dev/null && echo "ESCAPED unshare" || echo "held unshare"']
          : []),
      ].join('\n');
      const { r, out, sys } = await run(assignment(script, { runtime }));
      expect(sys[0]).toContain(`running in a ${runtime} sandbox`);
      expect(r).toMatchObject({ exitCode: 0, error: null });
      expect(out[0]).toBe('hello');
      expect(out.filter((l) => l.startsWith('ESCAPED'))).toEqual([]);
      expect(out.filter((l) => l.startsWith('held'))).toHaveLength(ESCAPES.length + (runtime === 'bubblewrap' ? 1 : 0));
      // What the task wrote in its workspace is there; nothing landed in the host's /etc or /tmp.
      expect(existsSync(join(wsA, 'mine.txt'))).toBe(true);
      expect(existsSync('/etc/marionette-escape')).toBe(false);
      expect(existsSync(`/tmp/marionette-escape-${process.pid}`)).toBe(false);
    }, 60_000);

    it('binds expose chosen host paths, read-only by default, rw on request', async () => {
      const ro = join(userHome, 'ro-login');
      const rw = join(userHome, 'rw-cache');
      mkdirSync(ro, { recursive: true });
      mkdirSync(rw, { recursive: true });
      writeFileSync(join(ro, 'login.json'), 'login');
      const script = `cat ${ro}/login.json; echo; (echo x > ${ro}/new) 2>/dev/null && echo ro-WRITTEN; echo y > ${rw}/out && echo rw-ok; (cat ${userHome}/.netrc) 2>/dev/null || echo netrc-hidden`;
      const { r, out } = await run(
        assignment(script, {
          runtime,
          binds: [
            { path: ro, rw: false },
            { path: rw, rw: true },
          ],
        }),
      );
      expect(r.exitCode).toBe(0);
      expect(out).toEqual(['login', 'rw-ok', 'netrc-hidden']);
      expect(existsSync(join(ro, 'new'))).toBe(false);
      expect(existsSync(join(rw, 'out'))).toBe(true);
    }, 60_000);

    it('no network but loopback with network none', async () => {
      const { out } = await run(
        assignment('cat /proc/net/dev | grep -c ":" ; (exec 3<>/dev/tcp/127.0.0.1/9) 2>/dev/null; echo tcp=$?', {
          runtime,
        }),
      );
      // Only lo (plus a header-less count of 1 interface line) exists; nothing listens on 127.0.0.1:9.
      expect(Number(out[0])).toBeLessThanOrEqual(1);
    }, 60_000);

    describe.skipIf(cgroups.kind === 'none' && !required)('limits', () => {
      it('a fork bomb meets the pids limit, and the runner survives', async () => {
        const { r, sys } = await run(
          assignment(
            ':(){ :|:& };:; sleep 30',
            { runtime, limits: { memoryBytes: null, cpus: 0.5, pids: 48 } },
            {
              timeoutMs: 6000,
            },
          ),
        );
        // bubblewrap: the bomb is held at the limit until the timeout ends it; gVisor: its Sentry,
        // held at the same limit, may end the sandbox first. Either way it ends, unsuccessfully.
        if (runtime === 'bubblewrap') {
          expect(r.timedOut).toBe(true);
          expect(sys.join('\n')).toMatch(/timed out/);
        } else expect(r.timedOut === true || r.exitCode !== 0).toBe(true);
        console.log(runtime, 'fork bomb:', JSON.stringify(r));
        // The test process (standing in for the runner) is alive and can still fork.
        const again = await run(assignment('echo alive', { runtime }));
        expect(again.out).toEqual(['alive']);
      }, 90_000);

      it('allocating past the memory limit fails the task, and the runner survives', async () => {
        const { r } = await run(
          assignment('node -e "const a=[];for(;;)a.push(Buffer.alloc(1<<20,1))"', {
            runtime,
            limits: { memoryBytes: 96 * 1024 * 1024, cpus: null, pids: 256 },
          }),
        );
        expect(r.exitCode).not.toBe(0);
        expect(r.error ?? '').toMatch(runtime === 'bubblewrap' ? /ran out of memory/ : /memory limit/);
        const again = await run(assignment('echo alive', { runtime }));
        expect(again.out).toEqual(['alive']);
      }, 90_000);
    });
  });
}

describe('missing runtimes', () => {
  it('a runner whose PATH lacks runsc says so, and a gvisor task fails naming it (never runs unsandboxed)', async () => {
    const bare = SandboxHost.detect({ path: join(root, 'empty-bin'), home: userHome });
    expect(bare.runtimes).toEqual([]);
    expect(bare.detected.missing.get('gvisor')).toMatch(/runsc not found on PATH/);
    const out: string[] = [];
    const t = new RunningTask(
      assignment(`echo ran > ${wsA}/unsandboxed`, { runtime: 'gvisor' }),
      wsA,
      { line: (_s, l) => out.push(l), started: () => {} },
      null,
      bare,
    );
    const r = await t.done;
    expect(r.error).toMatch(/sandbox runtime gvisor is not available on this runner: runsc not found on PATH/);
    expect(existsSync(join(wsA, 'unsandboxed'))).toBe(false);
  });

  it('a bind that does not exist, or is not absolute, fails the task with the reason', async () => {
    if (!host.runtimes.length && !required) return;
    const { r } = await run(assignment('true', { binds: [{ path: join(root, 'nope'), rw: false }] }));
    expect(r.error).toMatch(/sandbox bind .*nope does not exist on this runner/);
    const rel = await run(assignment('true', { binds: [{ path: 'relative/dir', rw: false }] }));
    expect(rel.r.error).toMatch(/is not an absolute path/);
  });
});
