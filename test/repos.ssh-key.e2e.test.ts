/**
 * The ssh-key credential path of a session's clone, end to end with the real git and ssh-keygen:
 * no sshd runs here, so `ssh` on the runner's PATH is a stand-in for the far end of the
 * connection. It checks that git gave it the stored key (as a 0600 file, by `-i`), then serves
 * the requested command with the real `git-shell` against a local bare repository, as an ssh
 * server would (refusing another key with ssh's own "Permission denied (publickey)"). The clone
 * succeeds with the right key, the key file is gone afterwards, and with the wrong key the session
 * fails with git's message and no key material in it.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeRepo, type TestRepo } from './git.support.js';
import { type ServerHandle, startServer } from './harness.js';

const HOST = 'git.ssh-test.invalid';
let srv: ServerHandle;
let repo: TestRepo;
let dir: string;
let goodKey: string;
let badKey: string;

function keypair(name: string): string {
  const f = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', f]);
  return readFileSync(f, 'utf8');
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'marionette-ssh-test-'));
  repo = makeRepo();
  goodKey = keypair('good');
  badKey = keypair('bad');
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  // The far end: ssh [-o opt]... [-i key] [-p port] [user@]host command
  writeFileSync(
    join(bin, 'ssh'),
    `#!/bin/sh
key=
while [ $# -gt 0 ]; do
  case "$1" in
    -i) key="$2"; shift 2 ;;
    -o|-p|-l) shift 2 ;;
    -*) shift ;;
    *) break ;;
  esac
done
host="$1"; shift
echo "key=$key host=$host mode=$(stat -c %a "$key" 2>/dev/null)" >> ${JSON.stringify(join(dir, 'ssh.log'))}
if [ -z "$key" ] || ! cmp -s "$key" ${JSON.stringify(join(dir, 'good'))}; then
  echo "git@$host: Permission denied (publickey)." >&2
  exit 255
fi
exec git-shell -c "$*"
`,
  );
  chmodSync(join(bin, 'ssh'), 0o755);
  srv = await startServer({ env: { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}` } });
});
afterAll(async () => {
  await srv?.destroy();
  repo?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Session {
  id: string;
  state: string;
  stateReason: string | null;
  tasks: { id: string; state: string; error: string | null }[];
}

async function cloneWith(key: string): Promise<{ s: Session; lines: string[] }> {
  const put = await srv.api('PUT', `/v1/git-credentials/${HOST}`, { kind: 'ssh-key', secret: key });
  expect(put.status, JSON.stringify(put.body)).toBe(200);
  const r = await srv.mctl([
    '-o',
    'json',
    'sessions',
    'create',
    '--agent',
    'shell',
    '--repo',
    `ssh://git@${HOST}${repo.bare}`,
    '--prompt',
    'cat README; git rev-parse HEAD',
    '--wait',
    '--timeout',
    '90s',
  ]);
  const s = JSON.parse(r.stdout) as Session;
  const logs = await srv.api<{ items: { line: string }[] }>('GET', `/v1/sessions/${s.id}/logs`);
  return { s, lines: logs.body.items.map((l) => l.line) };
}

describe('an ssh-key git credential', () => {
  it('reaches ssh as a 0600 key file that is removed after the clone', async () => {
    const { s, lines } = await cloneWith(goodKey);
    expect(s.tasks[0]?.state, `${s.tasks[0]?.error}\n${lines.join('\n')}`).toBe('succeeded');
    expect(lines).toContain('version 3');
    expect(lines).toContain(repo.main[2]);
    const log = readFileSync(join(dir, 'ssh.log'), 'utf8').trim().split('\n');
    const m = /key=(\S+) host=git@(\S+) mode=(\d+)/.exec(log.at(-1)!);
    expect(m?.[2]).toBe(HOST);
    expect(m?.[3]).toBe('600');
    expect(existsSync(m![1]!)).toBe(false);
    await srv.mctl(['sessions', 'cancel', s.id]);
  });

  it('fails the session with git’s message when the key is refused, the key never shown', async () => {
    const { s, lines } = await cloneWith(badKey);
    const events = await srv.api<{ items: unknown[] }>('GET', `/v1/sessions/${s.id}/events`);
    const said = JSON.stringify({ s, lines, events: events.body });
    expect(s.tasks[0]?.state).toBe('failed');
    expect(said).toContain('Permission denied (publickey)');
    const body = badKey.split('\n')[1]!;
    expect(said).not.toContain(body);
    const log = readFileSync(join(dir, 'ssh.log'), 'utf8').trim().split('\n');
    expect(existsSync(/key=(\S+)/.exec(log.at(-1)!)![1]!)).toBe(false);
  });
});
