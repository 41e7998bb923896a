/**
 * @module `marionette-agent`: the runner. Dials out to the gateway, so it works behind NAT and in
 * sandboxes without inbound ports.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { type AgentFileConfig, type AgentFlags, loadAgentConfig, readAgentConfigFile } from '../config/agent.js';
import { MarionetteError } from '../core/errors.js';
import { VERSION } from '../paths.js';
import { exitWhenFlushed } from '../stdio.js';
import { Agent, AgentError } from './agent.js';

/**
 * The command line. A runner a provider starts gets no arguments (everything comes from its
 * environment), so it does not load the option parser at all.
 */
async function parseFlags(argv: string[]): Promise<AgentFlags> {
  if (argv.length === 0) return {};
  const { Command } = await import('commander');
  const program = new Command('marionette-agent')
    .description('Marionette runner agent: joins a pool, claims work, runs agents, streams logs')
    .version(VERSION)
    .option(
      '-s, --server <addr>',
      'gateway address HOST:PORT or unix:/path/gateway.sock; several, comma-separated, for server replicas: tried in turn on each reconnect (env MARIONETTE_GATEWAY)',
    )
    .option('-t, --token <token>', 'registration token (env MARIONETTE_REGISTRATION_TOKEN)')
    .option('-p, --pool <name>', 'pool to join (checked against the token)')
    .option('-l, --labels <k=v,...>', 'labels this runner offers, e.g. os=darwin,arch=arm64')
    .option('-n, --name <name>', 'runner name (default: hostname)')
    .option('-w, --workspace <dir>', 'where tasks run (default: the current directory)')
    .option('--state-dir <dir>', 'keeps the runner credential so a restart rejoins as the same runner')
    .option('--ca-file <file>', 'PEM CA that signed the gateway certificate, for wss:// (env MARIONETTE_CA_FILE)')
    .option(
      '--tls-fingerprint <sha256>',
      'trust the wss:// gateway whose certificate has this SHA-256 fingerprint (env MARIONETTE_TLS_FINGERPRINT)',
    )
    .option(
      '--tls-cert <file>',
      'client certificate for a gateway that requires mutual TLS (env MARIONETTE_AGENT_TLS_CERT)',
    )
    .option('--tls-key <file>', 'key of --tls-cert (env MARIONETTE_AGENT_TLS_KEY)')
    .option(
      '--listen <port>',
      'listen for the server on PORT instead of dialling it (a sandbox behind a port tunnel; env MARIONETTE_LISTEN, with MARIONETTE_TUNNEL_SECRET)',
    )
    .option(
      '-c, --config <file>',
      'settings file (YAML or JSON: server, token, pool, labels, name, workspace, state_dir); flags and env win',
    )
    .showHelpAfterError();
  program.parse(argv, { from: 'user' });
  return program.opts<AgentFlags>();
}

export async function main(argv: string[]): Promise<void> {
  const opts = await parseFlags(argv);
  let agent: Agent;
  try {
    let file: AgentFileConfig = {};
    if (opts.config) {
      let text: string;
      try {
        text = readFileSync(opts.config, 'utf8');
      } catch (e: unknown) {
        throw new AgentError(
          'bad_config',
          `cannot read ${opts.config}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
        );
      }
      file = await readAgentConfigFile(opts.config, text);
    }
    let config = loadAgentConfig(opts, process.env, hostname(), file);
    for (const note of config.notes ?? []) process.stderr.write(`marionette-agent: ${note}\n`);
    if (config.listen) {
      // Listen mode: the gateway is reached through the server's tunnel, over a relay of the agent's own.
      const { TunnelListener } = await import('./tunnel-listen.js');
      const log = (m: string) => process.stderr.write(`marionette-agent: ${m}\n`);
      const tunnel = await TunnelListener.start({ port: config.listen.port, secret: config.listen.secret, log });
      config = { ...config, server: tunnel.gatewayAddress };
    }
    agent = new Agent({ config });
    // Behind an egress proxy (a sandbox with loopback only): its bridge on 127.0.0.1 is the task's way out.
    const egressSocket = process.env.MARIONETTE_EGRESS_SOCKET;
    if (egressSocket) await (await import('../egress/bridge.js')).startEgressBridge(egressSocket);
    await agent.start();
  } catch (e: unknown) {
    if (e instanceof AgentError || e instanceof MarionetteError) {
      process.stderr.write(`marionette-agent: ${e.message}\n`);
      if (e instanceof MarionetteError && e.hint) process.stderr.write(`hint: ${e.hint}\n`);
      return exitWhenFlushed(2, 2000);
    }
    throw e;
  }
  const onSignal = () => void agent.stop(0);
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  await agent.done;
  return exitWhenFlushed(Number(process.exitCode ?? 0), 2000);
}
