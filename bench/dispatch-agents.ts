/**
 * @module Helper process for bench/dispatch: runs N marionette-agent instances (the real Agent
 * class, each with its own WebSocket) in one process, so 100 runners fit on a small machine
 * without 100 Node processes. Usage: `node dist/bench/dispatch-agents.js N HOST:PORT TOKEN POOL WORKDIR`.
 */
import { Agent } from '../src/agent/agent.js';

async function main(): Promise<void> {
  const [n, server, token, pool, workdir] = process.argv.slice(2);
  if (!n || !server || !token || !pool || !workdir) throw new Error('usage: N HOST:PORT TOKEN POOL WORKDIR');
  const agents: Agent[] = [];
  for (let i = 0; i < Number(n); i++) {
    const a = new Agent({
      config: {
        server,
        registrationToken: token,
        runnerId: null,
        pool,
        labels: { slot: String(i) },
        name: `bench-${i}`,
        workspace: workdir,
        stateDir: null,
      },
      log: () => {},
    });
    agents.push(a);
    await a.start();
  }
  process.stdout.write(`ready ${agents.length}\n`);
  const stop = () => {
    void Promise.all(agents.map((a) => a.stop(0))).then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e: unknown) => {
  process.stderr.write(`dispatch-agents: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
