/**
 * Output to a pipe is never cut: `mctl ... -o json | cat` used to end at 65,536 bytes (the CLI
 * exited before stdout had drained into the pipe), so a large listing was invalid JSON. The
 * server and the agent wait for their output too, but only for a bounded time.
 */
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, type ServerHandle, startServer } from './harness.js';

let srv: ServerHandle;
beforeAll(async () => {
  srv = await startServer();
});
afterAll(async () => {
  await srv?.destroy();
});

/** Runs a shell pipeline; resolves with its stdout and exit code. */
function sh(script: string, env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'sh',
      ['-c', script],
      { env: { ...process.env, ...env }, timeout: 60_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('mctl output through a pipe', () => {
  it('writes a listing over 1 MB in full, as valid JSON, to a fast and to a slow reader', async () => {
    // Sessions nothing can place (their selector matches no pool): they wait, and each carries a
    // 20 KB prompt that the listing repeats (env values are never answered, only their names).
    const big = 'v'.repeat(20_000);
    for (let i = 0; i < 60; i++) {
      const r = await srv.api('POST', '/v1/sessions', { agent: 'shell', selector: 'nosuch=1', prompt: big });
      expect(r.status).toBe(201);
    }
    const env = { MARIONETTE_SERVER: srv.apiUrl, MARIONETTE_TOKEN: srv.token, MARIONETTE_HOME: srv.home };
    const mctl = `'${process.execPath}' '${BIN.mctl}' sessions list --limit 1000 -o json`;
    for (const reader of ['cat', 'sh -c "sleep 1; cat"']) {
      const r = await sh(`${mctl} | ${reader}`, env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.length).toBeGreaterThan(1_000_000);
      const items = JSON.parse(r.stdout) as { request: { prompt: string } }[];
      expect(items).toHaveLength(60);
      for (const s of items) expect(s.request.prompt).toBe(big);
    }
  });

  it('every program exits through a flush: 2 MB written just before exit all arrive', async () => {
    const stdio = join(ROOT, 'dist', 'src', 'stdio.js');
    const script = `import('${stdio}').then((m) => { process.stdout.write('x'.repeat(2_000_000)); process.stderr.write('y'.repeat(300_000)); return m.exitWhenFlushed(7); })`;
    const r = await sh(`'${process.execPath}' -e "${script}" 2>&1 | sh -c 'sleep 1; wc -c'`, {});
    expect(r.stdout.trim()).toBe('2300000');
  });

  it('a long-running program (server, agent) still exits when its reader stopped reading', async () => {
    const stdio = join(ROOT, 'dist', 'src', 'stdio.js');
    const script = `import('${stdio}').then((m) => { process.stdout.write('x'.repeat(1_000_000)); return m.exitWhenFlushed(5, 300); })`;
    // stdout is a pipe this test never reads from: without a bound, the exit would wait forever.
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.pause();
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).toBe(5);
    child.stdout.destroy();
  });
});
