/**
 * Warm bubblewrap sandboxes (./warm.ts), driven through the agent's RunningTask as every task is:
 * the second command of a session runs in the sandbox made while the runner was idle, with
 * exactly the environment a cold launch gives, behind the same walls; anything that does not match
 * (another workspace, a dead warm sandbox, an argv env would misread) runs cold.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { TaskAssignment } from '../../protocol/messages.js';
import { RunningTask, type TaskResult } from '../task.js';
import { SandboxHost } from './index.js';
import { warmInput, warmKey } from './warm.js';

const required = process.env.MARIONETTE_REQUIRE_SANDBOX === '1';
const root = mkdtempSync(join(tmpdir(), 'mwarm-'));
const home = join(root, 'home');
const wsA = join(root, 'ws', 'a');
const wsB = join(root, 'ws', 'b');
for (const d of [home, wsA, wsB]) mkdirSync(d, { recursive: true });
writeFileSync(join(wsB, 'private.txt'), 'other-session-secret');
const hosts: SandboxHost[] = [];
const host = (warm = true) => {
  const h = SandboxHost.detect({ path: process.env.PATH ?? '', home, warm });
  hosts.push(h);
  return h;
};
afterAll(() => {
  for (const h of hosts) h.dispose();
  rmSync(root, { recursive: true, force: true });
});
const probe = host(false);
const have = probe.runtimes.includes('bubblewrap');
if (required && !have) throw new Error('MARIONETTE_REQUIRE_SANDBOX=1 but bubblewrap is not usable here');

function assignment(command: string[], env: Record<string, string> = {}): TaskAssignment {
  return {
    taskId: `task_${Math.random().toString(36).slice(2, 10)}`,
    sessionId: 'sess_a',
    agent: 'shell',
    command,
    env,
    workspace: null,
    setup: [],
    resumeAfterSeq: 0,
    outcome: 'exit',
    timeoutMs: null,
    sandbox: {
      runtime: 'bubblewrap',
      network: 'none',
      binds: [],
      limits: { memoryBytes: null, cpus: null, pids: null },
    },
  };
}

async function run(h: SandboxHost, a: TaskAssignment, ws = wsA, onStart?: (t: RunningTask) => void) {
  const out: string[] = [];
  let pid: number | null = null;
  const t = new RunningTask(
    a,
    ws,
    { line: (s, l) => s !== 'system' && out.push(`${s === 'stdout' ? '' : `${s}: `}${l}`), started: (p) => (pid = p) },
    null,
    h,
  );
  onStart?.(t);
  const r: TaskResult = await t.done;
  return { r, out, pid: pid as number | null };
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('warmKey and warmInput (pure)', () => {
  const plan = {
    runtime: 'bubblewrap' as const,
    workspace: '/w',
    network: 'none' as const,
    binds: [],
    limits: { memoryBytes: null, cpus: null, pids: null },
    argv: ['bash'],
    env: {},
    name: 'x',
  };
  it('prepares only what is the same for every task of a session', () => {
    expect(warmKey(plan, '/h', false)).toBe(warmKey({ ...plan, argv: ['other'], name: 'y' }, '/h', false));
    expect(warmKey(plan, '/h', false)).not.toBe(warmKey({ ...plan, workspace: '/v' }, '/h', false));
    expect(warmKey(plan, '/h', true)).toBeNull(); // a cgroup per task
    expect(warmKey({ ...plan, runtime: 'gvisor' }, '/h', false)).toBeNull();
    expect(warmKey({ ...plan, network: { proxySocket: '/s' } }, '/h', false)).toBeNull();
  });
  it('refuses what env -i would misread', () => {
    expect(warmInput(['A=1', 'x'], {})).toBeNull();
    expect(warmInput(['-i'], {})).toBeNull();
    expect(warmInput([], {})).toBeNull();
    expect(warmInput(['bash', 'a\0b'], {})).toBeNull();
    expect(warmInput(['bash', '-c', 'true'], { K: 'v w' })).toBe('1\0K=v w\0bash\0-c\0true\0');
  });
});

describe.skipIf(!have)('warm bubblewrap sandboxes', () => {
  it('runs the next command in the sandbox made while idle, with the environment a cold launch gives', async () => {
    const h = host();
    const env = { MARK: 'line one\nline "two" $HOME *', EMPTY: '' };
    const cmd = ['bash', '-c', 'env | sort; echo ws=$PWD'];
    const first = await run(h, assignment(cmd, env));
    expect(first.r.exitCode).toBe(0);
    const warm = h.warmPid;
    expect(warm).not.toBeNull();
    const second = await run(h, assignment(cmd, env));
    expect(second.r.exitCode, second.out.join('\n')).toBe(0);
    expect(second.pid).toBe(warm); // the task ran in the sandbox made ahead
    expect(second.out).toEqual(first.out); // the same environment, the same workspace
    const cold = await run(probe, assignment(cmd, env));
    expect(second.out).toEqual(cold.out);
    expect(second.out.join('\n')).toContain('MARK=line one');
    expect(h.warmPid).not.toBe(warm); // a fresh one for the next command
  });

  it('keeps the walls: another session’s workspace, the host /tmp and /root stay out of reach', async () => {
    const h = host();
    await run(h, assignment(['true']));
    const r = await run(h, assignment(['bash', '-c', `cat ${wsB}/private.txt; ls /root; touch /etc/x; echo done`]));
    expect(r.out.join('\n')).not.toContain('other-session-secret');
    expect(r.out.join('\n')).toContain('done');
    expect(
      r.out.some((l) => l.includes('No such file') || l.includes('Permission denied') || l.includes('Read-only')),
    ).toBe(true);
  });

  it('a kill ends a warm task and its whole group', async () => {
    const h = host();
    await run(h, assignment(['true']));
    const r = await run(h, assignment(['bash', '-c', 'sleep 300 & sleep 300; echo never']), wsA, (t) =>
      setTimeout(() => t.kill(200), 500),
    );
    expect(r.r.cancelled).toBe(true);
    expect(r.out).not.toContain('never');
    expect(r.pid && alive(r.pid)).toBe(false);
  });

  it('runs cold, and drops the warm one, for another workspace, a dead warm sandbox, or an argv env would misread', async () => {
    const h = host();
    await run(h, assignment(['true']));
    const stale = h.warmPid!;
    const other = await run(h, assignment(['bash', '-c', 'echo $PWD']), wsB);
    expect(other.out).toEqual([wsB]);
    expect(other.pid).not.toBe(stale);
    expect(alive(stale)).toBe(false); // discarded: it was bound to the other workspace
    // A warm sandbox that died meanwhile is not used.
    const dead = h.warmPid!;
    process.kill(-dead, 'SIGKILL');
    for (let i = 0; i < 100 && h.warmPid !== null; i++) await new Promise((r) => setTimeout(r, 20));
    expect(h.warmPid).toBeNull(); // seen dead once its exit is reaped
    const after = await run(h, assignment(['bash', '-c', 'echo ok']), wsB);
    expect(after.out).toEqual(['ok']);
    expect(after.pid).not.toBe(dead);
    // An argv[0] with '=' is not sent through env -i: it runs cold and fails as it would anyway.
    const odd = await run(h, assignment(['X=1']), wsB);
    expect(odd.r.exitCode).not.toBe(0);
  });

  it('forty commands back to back: each after the first warm, no sandbox left behind after dispose', async () => {
    const h = host();
    const pids: (number | null)[] = [];
    const warmBefore: (number | null)[] = [];
    for (let i = 0; i < 40; i++) {
      warmBefore.push(h.warmPid);
      const r = await run(h, assignment(['bash', '-c', `echo ${i}`]));
      expect(r.out).toEqual([String(i)]);
      pids.push(r.pid);
    }
    for (let i = 1; i < 40; i++) expect(pids[i]).toBe(warmBefore[i]);
    const last = h.warmPid!;
    h.dispose();
    await new Promise((r) => setTimeout(r, 200));
    expect(alive(last)).toBe(false);
    expect(h.warmPid).toBeNull();
    // A disposed host makes no more.
    await run(h, assignment(['true']));
    expect(h.warmPid).toBeNull();
  });
});
