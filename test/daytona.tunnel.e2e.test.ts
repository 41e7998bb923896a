/**
 * @module The tunnel transport on the Daytona API stand-in: sandboxes on Docker's bridge network
 * (no route to the test gateway on the host's loopback) and a closed gateway port in the config,
 * so only the tunnel works. The agent listens (`transport: tunnel`) and the server dials the
 * sandbox's preview link with its token (`GET /sandbox/{id}/ports/{port}/preview-url`, the SDK's
 * `getPreviewLink`). A session runs; suspended (Daytona stop, keeping the disk) and resumed, it
 * goes on over a new tunnel with its workspace.
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { dockerDescribe } from '../src/providers/docker/docker.test-support.js';
import { type DaytonaTarget, daytonaTarget } from './daytona.support.js';
import { addTask, createSession, sessionIn, taskDone, taskLines } from './docker.support.js';
import { type ServerHandle, startServer, until } from './harness.js';

const PORT = 49990;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

dockerDescribe('the tunnel transport on the Daytona stand-in (a server behind NAT)', () => {
  let target: DaytonaTarget;
  let srv: ServerHandle;
  let gatewayPort: number;

  beforeAll(async () => {
    target = await daytonaTarget({ ports: [PORT] });
    gatewayPort = await freePort();
    const cfg = target.config(gatewayPort, { transport: 'tunnel', tunnelPort: PORT, gateway: 'ws://127.0.0.1:1' });
    srv = await startServer({
      gatewayPort,
      env: target.env,
      config: [
        'runners: { lease_timeout: 1m }',
        'providers:',
        `  daytona: ${JSON.stringify(cfg)}`,
        'pools:',
        '  dtnat: {provider: daytona, mode: managed, max_runners: 2}',
        '',
      ].join('\n'),
    });
  }, 300_000);

  afterAll(async () => {
    await srv?.destroy();
    const left = target?.standin ? await target.standin.leftovers() : [];
    await target?.close();
    expect(left).toEqual([]);
  }, 120_000);

  it('runs a session over the preview-link tunnel, and again after a suspend and resume', async () => {
    const probe = `/opt/marionette-node/bin/node -e "require('net').connect(${gatewayPort},'127.0.0.1').on('connect',()=>{console.log('gateway reachable');process.exit(0)}).on('error',()=>console.log('gateway unreachable'))"`;
    const created = await createSession(srv, {
      pool: 'dtnat',
      prompt: `echo "gw=\${MARIONETTE_GATEWAY:-none}"; ${probe}; echo kept > /workspace/kept.txt`,
    });
    const done = await taskDone(srv, created.tasks![0]!.id, 180_000);
    const lines = await taskLines(srv, done.id);
    expect(done.state, lines.join('\n')).toBe('succeeded');
    expect(lines).toContain('gw=none');
    expect(lines).toContain('gateway unreachable');
    expect(target.standin.tunnel!.relayed).toBeGreaterThan(0);
    expect(target.standin.calls.some((c) => /^GET \/sandbox\/[^/]+\/ports\/49990\/preview-url$/.test(c))).toBe(true);

    await sessionIn(srv, created.id, ['idle']);
    const sus = await srv.mctl(['sessions', 'suspend', created.id]);
    expect(sus.code, sus.stderr).toBe(0);
    await sessionIn(srv, created.id, ['suspended'], 120_000);
    const back = await srv.mctl(['sessions', 'resume', created.id]);
    expect(back.code, back.stderr).toBe(0);
    const t = await addTask(srv, created.id, 'cat /workspace/kept.txt');
    const again = await taskDone(srv, t.id, 180_000);
    expect(again.state, (await taskLines(srv, t.id)).join('\n')).toBe('succeeded');
    expect(await taskLines(srv, t.id)).toEqual(['kept']);

    expect((await srv.api('POST', `/v1/sessions/${created.id}/cancel`)).status).toBe(200);
    await until(
      async () => [...target.standin.engine.sandboxes.values()].length === 0,
      'the sandbox to be deleted',
      60_000,
    );
  }, 600_000);
});
