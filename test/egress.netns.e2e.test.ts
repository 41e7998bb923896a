/**
 * The egress proxy and the in-sandbox bridge, end to end, in a network namespace this test creates
 * (`unshare -n`: loopback only, so nothing can leave the machine): an allowed and a denied host
 * (HTTP servers on loopback addresses inside it), reached through the bridge with CONNECT, with
 * plain HTTP proxying, and with curl using HTTP_PROXY as a task would. Needs root (CI runs as root);
 * skipped with the reason elsewhere.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

function canUnshare(): string | null {
  try {
    execFileSync('unshare', ['-n', 'ip', 'link', 'set', 'lo', 'up'], { stdio: 'ignore' });
    return null;
  } catch (e) {
    return `cannot create a network namespace here (unshare -n needs root): ${String(e)}`;
  }
}
const why = canUnshare();
if (why !== null) console.warn(`skipping egress netns tests: ${why}`);
const dir = mkdtempSync(join(tmpdir(), 'mn-egress-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(why !== null && !process.env.CI)('egress proxy in a network namespace', () => {
  it('lets the allowed host through and refuses the denied one, counted and reported with its host', () => {
    const out = execFileSync(
      'unshare',
      [
        '-n',
        'sh',
        '-c',
        'ip link set lo up && exec "$0" "$@"',
        process.execPath,
        resolve('test/fixtures/egress-netns.mjs'),
        resolve('dist'),
        dir,
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    const r = JSON.parse(out.trim().split('\n').pop() as string);
    expect(r.connectAllowed).toMatch(/^200 hello from allowed/);
    expect(r.connectDenied).toBe('HTTP/1.1 403 Forbidden');
    expect(r.connectDeniedIp).toBe('HTTP/1.1 403 Forbidden');
    expect(r.connectAllowedIp).toMatch(/^200 hello from allowed/);
    expect(r.httpAllowed).toBe('200 hello from allowed');
    expect(r.httpDenied).toMatch(
      /^403 egress to denied\.test:\d+ denied by this sandbox's policy \(allow \[allowed\.test/,
    );
    if (r.curl !== null) {
      expect(r.curl.allowed).toBe('hello from allowed 200');
      expect(r.curl.denied).toMatch(/ 403$/);
    }
    const extra = r.curl === null ? 0 : 1;
    expect(r.counts).toEqual({ allowed: 3 + extra, denied: 3 + extra });
    expect(r.denials.slice(0, 3)).toEqual([
      expect.stringMatching(/^CONNECT denied\.test:\d+$/),
      expect.stringMatching(/^CONNECT 127\.0\.0\.3:\d+$/),
      expect.stringMatching(/^GET denied\.test:\d+$/),
    ]);
  });
});
