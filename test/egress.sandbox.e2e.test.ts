/**
 * The nested-sandbox case of the egress policy (`{ proxySocket }`, src/egress/sandbox-network.ts):
 * the proxy runs on the runner's side (this test process) on a unix socket; the task runs in a
 * network namespace this test creates (`unshare -n`, loopback only), wrapped as the launcher wraps
 * it: the bridge starts inside, then the task (curl with the proxy env). The allowed host (an HTTP
 * server of this test on the host's loopback, by the name `allowed.test`) answers; the denied one
 * (`denied.test`) is refused by the proxy, and a direct connection has no route. Needs
 * root for `unshare -n` (CI runs as root); skipped with the reason elsewhere.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EgressProxy } from '../src/egress/proxy.js';
import { proxyNetworkSetup } from '../src/egress/sandbox-network.js';

const why = (() => {
  try {
    execFileSync('unshare', ['-n', 'true'], { stdio: 'ignore' });
    execFileSync('curl', ['--version'], { stdio: 'ignore' });
    return null;
  } catch (e) {
    return `needs unshare -n (root) and curl: ${String(e)}`;
  }
})();
if (why !== null) console.warn(`skipping egress sandbox tests: ${why}`);

describe.skipIf(why !== null && !process.env.CI)('egress proxy for a nested sandbox ({ proxySocket })', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mn-egress-sbx-'));
  const sock = join(dir, 'egress.sock');
  let web: http.Server;
  let port: number;
  let proxy: EgressProxy;
  const denied: string[] = [];
  beforeAll(async () => {
    web = http.createServer((_q, r) => r.end('hello from the runner side'));
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    port = (web.address() as AddressInfo).port;
    proxy = await new EgressProxy({
      policy: { allow: ['allowed.test'] },
      listen: sock,
      // The allowed name is this test's server on the runner side's loopback.
      resolve: (h) => (h === 'allowed.test' ? '127.0.0.1' : h),
      onDenied: (d) => denied.push(`${d.method} ${d.host}:${d.port}`),
    }).start();
  });
  afterAll(async () => {
    await proxy?.close();
    web?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs `argv` as the launcher would: a new network namespace, loopback up, the bridge first. */
  async function inSandbox(argv: string[]): Promise<string> {
    const net = proxyNetworkSetup(sock, { port: 3128 });
    const wrapped = net.wrap(argv);
    const r = await promisify(execFile)(
      'unshare',
      ['-n', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh', ...wrapped],
      {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...net.env },
        timeout: 60_000,
      },
    ).catch((e: { stdout?: string; code?: number }) => ({ stdout: `${e.stdout ?? ''}exit ${e.code}` }));
    return String(r.stdout).trim();
  }

  it('reaches the allowed host through the bridge, is refused the rest, and has no other way out', async () => {
    expect(await inSandbox(['curl', '-sS', `http://allowed.test:${port}/`])).toBe('hello from the runner side');
    expect(
      await inSandbox(['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', `http://denied.test:${port}/`]),
    ).toBe('403');
    expect(
      await inSandbox(['curl', '-sS', '-o', '/dev/null', '-w', '%{http_connect}', `https://denied.invalid:${port}/`]),
    ).toMatch(/^403/);
    // Without the proxy: nothing listens in the sandbox's own namespace, and there is no route out.
    expect(await inSandbox(['curl', '-sS', '--noproxy', '*', '--max-time', '5', `http://localhost:${port}/`])).toMatch(
      /exit 7$/,
    );
    // The task's exit status comes through the bridge.
    expect(await inSandbox(['sh', '-c', 'exit 3'])).toBe('exit 3');
    expect(proxy.allowed).toBe(1);
    expect(denied).toEqual([`GET denied.test:${port}`, `CONNECT denied.invalid:${port}`]);
  });
});
