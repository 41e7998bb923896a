/**
 * CLI habits: `--prompt -` reads the prompt from stdin and `--prompt-file` from a file (for
 * sessions and tasks; both at once is refused), and `mctl version` prints the client's and the
 * server's version (and says when the server cannot be reached), and `mctl sessions events ID` lists
 * what happened to a session.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, type CmdResult, type ServerHandle, startServer } from './harness.js';

let srv: ServerHandle;
beforeAll(async () => {
  srv = await startServer();
});
afterAll(async () => {
  await srv?.destroy();
});

/** mctl with `input` on its stdin. */
function mctlWithInput(args: string[], input: string): Promise<CmdResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN.mctl, ...args], {
      env: { ...process.env, MARIONETTE_SERVER: srv.apiUrl, MARIONETTE_TOKEN: srv.token, MARIONETTE_HOME: srv.home },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(input);
  });
}

describe('CLI habits', () => {
  it('--prompt - reads stdin; --prompt-file reads a file; both at once is refused', async () => {
    const script = 'echo "from stdin: $((6 * 7))"\necho "second line"\n';
    const r = await mctlWithInput(
      ['sessions', 'create', '--agent', 'shell', '--prompt', '-', '--follow', '--timeout', '60s'],
      script,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('from stdin: 42');
    expect(r.stdout).toContain('second line');
    const sessionId = /session (\S+) created/.exec(r.stderr)?.[1];
    expect(sessionId).toBeTruthy();

    const file = join(srv.home, 'prompt.sh');
    writeFileSync(file, 'echo "from a file"\n');
    const t = await srv.mctl([
      'tasks',
      'create',
      '--session',
      sessionId!,
      '--prompt-file',
      file,
      '--follow',
      '--timeout',
      '60s',
    ]);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toContain('from a file');

    const both = await srv.mctl(['tasks', 'create', '--session', sessionId!, '--prompt', 'x', '--prompt-file', file]);
    expect(both.code).not.toBe(0);
    expect(both.stderr).toContain('give --prompt or --prompt-file, not both');
    const events = await srv.mctl(['sessions', 'events', sessionId!]);
    expect(events.code, events.stderr).toBe(0);
    expect(events.stdout).toMatch(/^TIME\s+EVENT\s+DATA/);
    expect(events.stdout).toContain('created');
    const none = await srv.mctl(['tasks', 'create', '--session', sessionId!]);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toContain('give the prompt');
  });

  it('mctl version prints the client and the server; an unreachable server is said', async () => {
    const v = await srv.mctl(['-o', 'json', 'version']);
    expect(v.code, v.stderr).toBe(0);
    const j = JSON.parse(v.stdout) as { client: string; server: string };
    expect(j.client).toMatch(/^\d+\.\d+\.\d+/);
    expect(j.server).toBe(j.client);
    const down = await srv.mctl(['version'], { env: { MARIONETTE_SERVER: 'http://127.0.0.1:1' } });
    expect(down.stdout).toContain(`client: ${j.client}`);
    expect(down.stdout).toContain('server: unreachable');
  });
});
