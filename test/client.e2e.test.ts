/**
 * The package's client as a user gets it: a program that imports `MarionetteClient` by the
 * package's name (package.json "exports" → the built dist/) drives a real server: creates a pool,
 * a session and tasks, reads them back, and gets typed errors for bad requests.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, type ServerHandle, startServer } from './harness.js';

function runUserProgram(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(ROOT, 'test', 'fixtures', 'client-user.mjs')], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    p.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const timer = setTimeout(() => p.kill('SIGKILL'), 90_000);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('MarionetteClient from the package entry', () => {
  let srv: ServerHandle;
  beforeAll(async () => {
    srv = await startServer();
  });
  afterAll(async () => {
    await srv?.destroy();
  });

  it('creates a pool, a session and tasks, reads them, and surfaces problems as MarionetteApiError', async () => {
    const r = await runUserProgram({ MARIONETTE_URL: srv.apiUrl, MARIONETTE_TOKEN: srv.token });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(out).toMatchObject({
      health: true,
      pool: { name: 'client-pool', providerId: 'local' },
      dryRun: true,
      created: { tasks: 1 },
      firstTask: 'succeeded',
      secondLogs: ['second'],
      session: { sandboxProvider: 'local', tasks: ['succeeded', 'succeeded'] },
      listed: true,
      tasksOfSession: 2,
      cancelled: 'cancelled',
      notFound: { status: 404, type: 'https://marionette.dev/problems/not-found' },
      badState: { status: 400 },
      badBody: { status: 400 },
      unauthorized: { status: 401 },
      unreachable: true,
    });
    expect((out.notFound as { detail: string }).detail).toContain('ses_doesnotexist');
    expect((out.badState as { detail: string }).detail).toMatch(/unknown state "bogus"; valid states: pending, /);
    expect((out.badBody as { detail: string }).detail).toMatch(/agent/);
  });
});
