/**
 * @module Egress policies on docker sessions, end to end: an allow-list pool whose containers
 * (`NetworkMode: none`) reach an HTTP server this test runs on the host's loopback only through
 * the server's egress proxy (allowed by name: `localhost`; refused: the same server as
 * `127.0.0.1`, and anything not going through the proxy), the refusals in the session's events
 * with their host and counts; a session narrowing an open pool to `none`; a session widening its
 * pool's policy refused with the `egress_policy` verdict; bad policies refused with clear errors.
 * No traffic leaves the machine: the only server is the test's own, on loopback.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  containersOf,
  createSession,
  docker,
  dockerDescribe,
  engine,
  ensureTestImage,
  expectNothingLeft,
  forceClean,
  runTask,
  sessionIn,
  startDockerServer,
} from './docker.support.js';
import { type ServerHandle, until } from './harness.js';

const POOLS = `
allowlist: {provider: docker, mode: managed, max_runners: 2, network: {egress: {allow: [localhost]}}}
opennet: {provider: docker, mode: managed, max_runners: 2, sandbox_config: {network: bridge}}
gvisor: {provider: docker, mode: managed, max_runners: 1, sandbox_config: {runtime: runsc}, network: {egress: {allow: [localhost]}}}
`;
/** Whether the engine has runsc (.ci/run registers it; required there). */
const runsc =
  engine.ok && Object.keys(((await docker.info()) as { Runtimes?: object }).Runtimes ?? {}).includes('runsc');

/** A node one-liner in the box: GET `url` through $HTTP_PROXY (plain HTTP proxying), prints status and body. */
function viaProxy(url: string): string {
  const js = `const u=new URL(process.env.HTTP_PROXY);require("http").get({host:u.hostname,port:u.port,path:${JSON.stringify(url)}},r=>{let b="";r.on("data",d=>b+=d);r.on("end",()=>console.log(r.statusCode,b.trim()))}).on("error",e=>console.log("error",e.code))`;
  return `/opt/marionette-node/bin/node -e '${js}'`;
}

dockerDescribe('egress policies on docker sessions', () => {
  let srv: ServerHandle;
  let prefix: string;
  let web: http.Server;
  let port: number;
  /** Sessions to cancel at the end, whatever happened in between. */
  const made: string[] = [];
  beforeAll(async () => {
    await ensureTestImage();
    web = http.createServer((_req, res) => res.end('hello from the test'));
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    port = (web.address() as AddressInfo).port;
    ({ srv, prefix } = await startDockerServer({ pools: POOLS }));
  });
  afterAll(async () => {
    await srv?.destroy();
    web?.close();
    if (prefix) await forceClean(prefix);
  });

  it('an allow list: the allowed host through the proxy, the rest refused, counted and recorded', async () => {
    const s = await createSession(srv, { pool: 'allowlist' });
    made.push(s.id);
    const { runnerId } = await sessionIn(srv, s.id, ['idle', 'active']);
    const [c] = await containersOf(prefix, runnerId!);
    expect(c?.HostConfig.NetworkMode).toBe('none');
    expect(await runTask(srv, s.id, viaProxy(`http://localhost:${port}/`))).toEqual(['200 hello from the test']);
    // The same server by IP literal is not on the list (a name never matches a CIDR, nor an IP a name).
    const denied = await runTask(srv, s.id, viaProxy(`http://127.0.0.1:${port}/`));
    expect(denied[0]).toMatch(
      /^403 egress to 127\.0\.0\.1:\d+ denied by this sandbox's policy \(allow \[localhost\]\)/,
    );
    // CONNECT too (what HTTPS clients do), with curl and the task's HTTPS_PROXY.
    const curl = await runTask(
      srv,
      s.id,
      `curl -sS -o /dev/null -w '%{http_connect}\\n' https://denied.invalid/ 2>/dev/null; echo "$HTTPS_PROXY"`,
    );
    expect(curl[0]).toBe('403');
    expect(curl[1]).toBe('http://127.0.0.1:3128');
    // Around the proxy there is nothing: the container has loopback only.
    const direct = await runTask(
      srv,
      s.id,
      `curl -sS --noproxy '*' --max-time 5 http://localhost:${port}/ 2>&1 || echo refused`,
    );
    expect(direct.at(-1)).toBe('refused');
    const events = await until(
      async () => {
        const r = await srv.api<{ items: { type: string; data: Record<string, unknown> }[] }>(
          'GET',
          `/v1/sessions/${s.id}/events`,
        );
        const e = r.body.items.filter((x) => x.type === 'egress_denied');
        return e.length >= 2 ? e : null;
      },
      'egress_denied events',
      30_000,
    );
    expect(events[0]!.data).toMatchObject({ host: '127.0.0.1', port, method: 'GET', sessionDenied: 1, hostDenied: 1 });
    expect(events[1]!.data).toMatchObject({ host: 'denied.invalid', port: 443, method: 'CONNECT', sessionDenied: 2 });
    expect((await srv.api('POST', `/v1/sessions/${s.id}/cancel`)).status).toBe(200);
  });

  it.skipIf(!runsc && process.env.MARIONETTE_REQUIRE_DOCKER !== '1')(
    'an allow list under gVisor (runtime runsc): the same proxy through the bind-mounted socket',
    async () => {
      const s = await createSession(srv, { pool: 'gvisor' });
      made.push(s.id);
      const { runnerId } = await sessionIn(srv, s.id, ['idle', 'active'], 120_000);
      const [c] = await containersOf(prefix, runnerId!);
      expect(c?.HostConfig).toMatchObject({ NetworkMode: 'none' });
      expect((await docker.getContainer(c!.Id).inspect()).HostConfig.Runtime).toBe('runsc');
      expect(await runTask(srv, s.id, viaProxy(`http://localhost:${port}/`))).toEqual(['200 hello from the test']);
      expect((await runTask(srv, s.id, viaProxy(`http://127.0.0.1:${port}/`)))[0]).toMatch(/^403 /);
      expect((await srv.api('POST', `/v1/sessions/${s.id}/cancel`)).status).toBe(200);
    },
    180_000,
  );

  it('a session narrows an open pool to none: no network at all, no proxy', async () => {
    const s = await createSession(srv, { pool: 'opennet', network: { egress: 'none' } });
    made.push(s.id);
    const { runnerId } = await sessionIn(srv, s.id, ['idle', 'active']);
    const [c] = await containersOf(prefix, runnerId!);
    expect(c?.HostConfig.NetworkMode).toBe('none');
    expect(
      await runTask(
        srv,
        s.id,
        'ls /sys/class/net | tr "\\n" ,; echo; if [ -n "$HTTPS_PROXY" ]; then echo "$HTTPS_PROXY"; else echo no-proxy; fi',
      ),
    ).toEqual(['lo,', 'no-proxy']);
    expect((await srv.api('POST', `/v1/sessions/${s.id}/cancel`)).status).toBe(200);
  });

  it('a session widening its pool’s policy is refused with the egress_policy verdict', async () => {
    const r = await srv.api<{ detail: string; verdicts?: { reason: string; detail: string }[] }>(
      'POST',
      '/v1/sessions',
      {
        agent: 'shell',
        pool: 'allowlist',
        network: { egress: { allow: ['localhost', 'example.com'] } },
        waitForCapacity: false,
      },
    );
    expect(r.status, JSON.stringify(r.body)).toBeGreaterThanOrEqual(400);
    expect(JSON.stringify(r.body)).toMatch(/egress_policy/);
    expect(JSON.stringify(r.body)).toMatch(/asks for egress to example\.com; its pool allows allow \[localhost\]/);
    const open = await srv.api('POST', '/v1/sessions', {
      agent: 'shell',
      pool: 'allowlist',
      network: { egress: 'open' },
      dryRun: true,
    });
    expect(JSON.stringify(open.body)).toMatch(/egress_policy.*asks for egress open/);
  });

  it('bad policies are refused with the entry named', async () => {
    const bad = await srv.api<{ detail: string }>('POST', '/v1/sessions', {
      agent: 'shell',
      network: { egress: { allow: ['10.0.0.0/33'] } },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toMatch(/network\.egress\.allow\[0\]: "10\.0\.0\.0\/33" is not a CIDR/);
    const pattern = await srv.api<{ detail: string }>('POST', '/v1/pools', {
      name: 'badpat',
      provider: 'docker',
      network: { egress: { allow: ['ok.example', 'a.*.example'] } },
    });
    expect(pattern.status).toBe(400);
    expect(pattern.body.detail).toMatch(/network\.egress\.allow\[1\]: "a\.\*\.example" is not a host pattern/);
    const local = await srv.api<{ detail: string }>('POST', '/v1/pools', {
      name: 'localnone',
      provider: 'local',
      network: { egress: 'none' },
    });
    expect(local.status).toBe(400);
    expect(local.body.detail).toMatch(/provider local cannot enforce egress none \(supportsCustomNetworkPolicy: false/);
  });

  it('leaves nothing behind', async () => {
    for (const id of made) await srv.api('POST', `/v1/sessions/${id}/cancel`);
    await expectNothingLeft(prefix, 90_000);
  }, 120_000);
});
