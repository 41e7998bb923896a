/**
 * `mctl` with id prefixes and a streamed exec: a unique prefix of a session, task or runner id
 * (with or without its type tag) works wherever the whole id does, an ambiguous one is refused
 * with the candidates named, an unknown one says so; `mctl sessions exec` writes the command's
 * output while it still runs (the test sees the first line before it lets the command finish) and
 * exits with its code.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, type ServerHandle, startServer, until } from './harness.js';

let srv: ServerHandle;
beforeAll(async () => {
  srv = await startServer();
});
afterAll(async () => {
  await srv?.destroy();
});

interface SessionView {
  id: string;
  state: string;
  runnerId: string | null;
  tasks: { id: string; state: string }[];
}

/** A shell session whose first task succeeded, idle with its runner. */
async function idleSession(): Promise<SessionView> {
  const r = await srv.mctl(['-o', 'json', 'sessions', 'create', '--agent', 'shell', '--prompt', 'true', '--wait']);
  expect(r.code, r.stderr).toBe(0);
  const id = (JSON.parse(r.stdout) as SessionView).id;
  return until(async () => {
    const s = await srv.api<SessionView>('GET', `/v1/sessions/${id}`);
    return s.body.runnerId && s.body.state === 'idle' ? s.body : null;
  }, 'the session to be idle with its runner');
}

/**
 * The shortest prefix of `id` that no other of `ids` starts with, and that reaches two characters
 * past the id's time part (9 characters after the tag): ids made later, which the test does not
 * know (a warm runner started meanwhile), share a prefix of the time part but not of what follows.
 */
function uniquePrefix(id: string, ids: string[]): string {
  for (let n = id.indexOf('_') + 1 + 9 + 2; n <= id.length; n++) {
    const p = id.slice(0, n);
    if (ids.filter((x) => x.startsWith(p)).length === 1) return p;
  }
  return id;
}

describe('id prefixes', () => {
  it('a unique prefix works; an ambiguous one names the candidates; an unknown one says so', async () => {
    const a = await idleSession();
    const b = await idleSession();
    const ids = [a.id, b.id];
    const pa = uniquePrefix(a.id, ids);
    const get = await srv.mctl(['-o', 'json', 'sessions', 'get', pa]);
    expect(get.code, get.stderr).toBe(0);
    expect((JSON.parse(get.stdout) as SessionView).id).toBe(a.id);
    // Without the type tag too.
    const bare = await srv.mctl(['-o', 'json', 'sessions', 'get', pa.slice('ses_'.length)]);
    expect(bare.code, bare.stderr).toBe(0);
    expect((JSON.parse(bare.stdout) as SessionView).id).toBe(a.id);

    const amb = await srv.mctl(['sessions', 'get', 'ses_']);
    expect(amb.code).toBe(1);
    expect(amb.stderr).toContain('ambiguous');
    expect(amb.stderr).toContain(a.id);
    expect(amb.stderr).toContain(b.id);

    const none = await srv.mctl(['sessions', 'get', 'ses_zzzzzz']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no session has an id starting with "ses_zzzzzz"');
    expect(none.stderr).not.toContain('    at ');

    // Tasks, a task's --session, runners, and exec all take prefixes.
    const task = a.tasks[0]!.id;
    const tg = await srv.mctl(['-o', 'json', 'tasks', 'get', uniquePrefix(task, [task, b.tasks[0]!.id])]);
    expect(tg.code, tg.stderr).toBe(0);
    expect((JSON.parse(tg.stdout) as { id: string }).id).toBe(task);
    const tl = await srv.mctl(['-o', 'json', 'tasks', 'list', '--session', pa]);
    expect(tl.code, tl.stderr).toBe(0);
    expect((JSON.parse(tl.stdout) as { id: string }[]).map((t) => t.id)).toEqual([task]);
    const rg = await srv.mctl(['-o', 'json', 'runners', 'get', uniquePrefix(a.runnerId!, [a.runnerId!, b.runnerId!])]);
    expect(rg.code, rg.stderr).toBe(0);
    expect((JSON.parse(rg.stdout) as { id: string }).id).toBe(a.runnerId);
    const ex = await srv.mctl(['sessions', 'exec', pa, '--', 'bash', '-c', 'echo hi; exit 4']);
    expect(ex.code, ex.stderr).toBe(4);
    expect(ex.stdout).toBe('hi\n');
    for (const s of [a, b]) await srv.mctl(['sessions', 'cancel', s.id]);
  });
});

describe('streamed exec', () => {
  it('prints output while the command runs and exits with its code', async () => {
    const s = await idleSession();
    // The command prints, then waits for a mark that the test leaves only once it has seen that line.
    const child = spawn(
      process.execPath,
      [
        BIN.mctl,
        'sessions',
        'exec',
        s.id,
        '--',
        'bash',
        '-c',
        'echo first; echo err-first >&2; while [ ! -e go.mark ]; do sleep 0.1; done; echo second; exit 7',
      ],
      {
        env: { ...process.env, MARIONETTE_SERVER: srv.apiUrl, MARIONETTE_TOKEN: srv.token, MARIONETTE_HOME: srv.home },
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await until(async () => stdout.includes('first\n') && stderr.includes('err-first'), 'the first line', 60_000);
    expect(stdout).not.toContain('second');
    const mark = await srv.mctl(['sessions', 'exec', s.id, '--', 'touch', 'go.mark']);
    expect(mark.code, mark.stderr).toBe(0);
    expect(await exited).toBe(7);
    expect(stdout).toBe('first\nsecond\n');

    // Past the 8 MiB a stream the buffered answer keeps: streamed, all of it arrives.
    const big = await srv.mctl([
      'sessions',
      'exec',
      s.id,
      '--',
      'bash',
      '-c',
      "head -c 10000000 /dev/zero | tr '\\0' a",
    ]);
    expect(big.code, big.stderr).toBe(0);
    expect(big.stdout.length).toBe(10_000_000);
    expect(/^a+$/.test(big.stdout)).toBe(true);

    // -o json still answers the whole result at once.
    const j = await srv.mctl(['-o', 'json', 'sessions', 'exec', s.id, '--', 'bash', '-c', 'echo x; exit 2']);
    expect(j.code).toBe(2);
    expect(JSON.parse(j.stdout)).toMatchObject({ exitCode: 2, stdout: 'x\n' });
    await srv.mctl(['sessions', 'cancel', s.id]);
  });
});

describe('tables', () => {
  it('name pools, add columns with -o wide, and cut reasons to the terminal width (whole in json and show)', async () => {
    const s = await idleSession();
    const waiting = await srv.mctl([
      '-o',
      'json',
      'sessions',
      'create',
      '--agent',
      'shell',
      '--selector',
      'gpu=nvidia-h100-that-no-pool-here-has,vram>=640GB',
      '--prompt',
      'true',
    ]);
    expect(waiting.code, waiting.stderr).toBe(0);
    const wid = (JSON.parse(waiting.stdout) as { id: string }).id;
    const reason = await until(async () => {
      const x = await srv.api<{ stateReason: string | null }>('GET', `/v1/sessions/${wid}`);
      return x.body.stateReason && x.body.stateReason.length > 60 ? x.body.stateReason : null;
    }, 'the waiting session to have a reason');

    const env = { COLUMNS: '140' };
    const list = await srv.mctl(['sessions', 'list'], { env });
    expect(list.code, list.stderr).toBe(0);
    for (const line of list.stdout.trimEnd().split('\n')) expect(line.length).toBeLessThanOrEqual(140);
    const row = list.stdout.split('\n').find((l) => l.startsWith(wid))!;
    expect(row).toContain('…');
    expect(row).not.toContain(reason);
    // The pool by its name; its id only with -o wide.
    const idle = list.stdout.split('\n').find((l) => l.startsWith(s.id))!;
    const session = await srv.api<{ poolId: string }>('GET', `/v1/sessions/${s.id}`);
    const pools = await srv.api<{ items: { id: string; name: string }[] }>('GET', '/v1/pools');
    const poolName = pools.body.items.find((p) => p.id === session.body.poolId)!.name;
    expect(idle.split(/\s+/)).toContain(poolName);
    expect(list.stdout).not.toContain('POOL ID');

    const wide = await srv.mctl(['-o', 'wide', 'sessions', 'list'], { env });
    expect(wide.code, wide.stderr).toBe(0);
    expect(wide.stdout.split('\n')[0]).toMatch(/POOL ID.*REPO.*PRIORITY.*UPDATED/);
    expect(wide.stdout).toContain(reason);
    expect(wide.stdout).toContain(session.body.poolId);

    const json = await srv.mctl(['-o', 'json', 'sessions', 'list'], { env });
    expect(
      (JSON.parse(json.stdout) as { id: string; stateReason: string }[]).find((x) => x.id === wid)?.stateReason,
    ).toBe(reason);
    const show = await srv.mctl(['sessions', 'show', wid], { env });
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toContain(reason);
    for (const id of [s.id, wid]) await srv.mctl(['sessions', 'cancel', id]);
  });
});
