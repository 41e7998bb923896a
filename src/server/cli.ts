/**
 * @module `marionette`: the server program (`marionette serve`, `marionette images build`).
 */
import { Command } from 'commander';
import Dockerode from 'dockerode';
import { loadServerConfig } from '../config/index.js';
import { MarionetteError, toError } from '../core/errors.js';
import { VERSION } from '../paths.js';
import { installAgentClis, parseWith } from '../providers/docker/agent-clis.js';
import { DEFAULT_AGENT_IMAGE, parseDockerConfig, parseEngineAddress } from '../providers/docker/config.js';
import { buildAgentImage, existingAgentImage } from '../providers/docker/image.js';
import { exitWhenFlushed } from '../stdio.js';
import { startServer } from './main.js';

/** How long the server waits, on exit, for its output to drain into a pipe nobody may be reading. */
const EXIT_FLUSH_MS = 2000;

function fail(e: unknown): Promise<never> {
  const err = toError(e);
  if (err instanceof MarionetteError) {
    process.stderr.write(`marionette: ${err.message}\n${err.hint ? `hint: ${err.hint}\n` : ''}`);
    return exitWhenFlushed(2, EXIT_FLUSH_MS);
  }
  process.stderr.write(`marionette: ${err.message}\n`);
  return exitWhenFlushed(1, EXIT_FLUSH_MS);
}

interface ServeOptions {
  config?: string;
  port?: string;
  gatewayPort?: string;
  home?: string;
  tlsCert?: string;
  tlsKey?: string;
  tls?: string;
  tlsClientCa?: string;
}

export async function main(argv: string[]): Promise<void> {
  const program = new Command('marionette')
    .description('Marionette control plane: runs AI coding agents in sandboxes')
    .version(VERSION)
    .showHelpAfterError();
  program
    .command('serve')
    .description('Start the server: REST API, runner gateway, scheduler')
    .option('-c, --config <file>', 'marionette.yaml (env MARIONETTE_CONFIG)')
    .option('-p, --port <n>', 'REST API port (env MARIONETTE_PORT, default 8080)')
    .option('-g, --gateway-port <n>', 'runner gateway port (env MARIONETTE_GATEWAY_PORT, default 9090)')
    .option('--home <dir>', 'state directory (env MARIONETTE_HOME, default ~/.marionette)')
    .option('--tls-cert <file>', 'PEM certificate for the API and the gateway (env MARIONETTE_TLS_CERT)')
    .option('--tls-key <file>', 'PEM private key of --tls-cert (env MARIONETTE_TLS_KEY)')
    .option(
      '--tls <mode>',
      'self-signed: make one in $MARIONETTE_HOME/tls and print its fingerprint; off (env MARIONETTE_TLS)',
    )
    .option('--tls-client-ca <file>', 'require runners to present a client certificate this CA signed (mutual TLS)')
    .action(async (opts: ServeOptions) => {
      let config: ReturnType<typeof loadServerConfig>;
      try {
        config = loadServerConfig(opts);
      } catch (e: unknown) {
        return fail(e);
      }
      let server: Awaited<ReturnType<typeof startServer>>;
      try {
        server = await startServer(config);
      } catch (e: unknown) {
        return fail(e);
      }
      const out = process.stderr;
      out.write(`marionette ${VERSION}\n`);
      out.write(`  API       ${server.apiUrl}  (OpenAPI: ${server.apiUrl}/v1/openapi.json)\n`);
      out.write(`  dashboard ${server.apiUrl}/  (sign in with the token below, or a link from \`mctl dashboard\`)\n`);
      const gw = config.gatewayHost.includes(':') ? `[${config.gatewayHost}]` : config.gatewayHost;
      out.write(
        `  gateway   ${server.tls ? 'wss://' : ''}${gw}:${server.gatewayPort} and unix:${server.gatewaySocket}\n`,
      );
      if (server.tls) {
        const what =
          server.tls.mode === 'self-signed'
            ? server.tls.created
              ? 'self-signed, created'
              : 'self-signed'
            : 'certificate';
        out.write(
          `  tls       ${what} ${server.tls.certFile}${server.tls.mutual ? ' (runners need a client certificate)' : ''}\n`,
        );
        out.write(`  tls       SHA-256 fingerprint ${server.tls.fingerprint}\n`);
      }
      out.write(`  home      ${config.home}  (log: ${config.home}/server.log)\n`);
      out.write(
        server.bootstrapToken
          ? `  token     created ${config.home}/token (admin; mctl reads it)\n`
          : `  token     ${config.home}/token\n`,
      );
      out.write('ready\n');
      let stopping = false;
      const stop = async (sig: string) => {
        if (stopping) process.exit(1);
        stopping = true;
        out.write(`marionette: ${sig}, stopping (runners keep running and reconnect on the next start)\n`);
        await server.close().catch(() => {});
        return exitWhenFlushed(0, EXIT_FLUSH_MS);
      };
      process.on('SIGINT', () => void stop('SIGINT'));
      process.on('SIGTERM', () => void stop('SIGTERM'));
    });
  const images = program.command('images').description('Sandbox images');
  images
    .command('build')
    .description(
      'Build the default docker agent image from files on this machine (no registry needed); see docker/Dockerfile for setups with a registry',
    )
    .option('-t, --tag <tag>', `image tag (default: providers.docker.image, else ${DEFAULT_AGENT_IMAGE})`)
    .option('--if-missing', 'do nothing when the tag already exists')
    .option('-c, --config <file>', 'marionette.yaml whose providers.docker host/image to use (env MARIONETTE_CONFIG)')
    .option('--home <dir>', 'state directory (env MARIONETTE_HOME)')
    .option(
      '--with <agents>',
      'agent CLIs to install from npm into the image: claude, codex, gemini, opencode (name@version for another version)',
    )
    .action(async (opts: { tag?: string; ifMissing?: boolean; config?: string; home?: string; with?: string }) => {
      try {
        const config = loadServerConfig({
          ...(opts.config ? { config: opts.config } : {}),
          ...(opts.home ? { home: opts.home } : {}),
        });
        const docker = parseDockerConfig(config.providers.docker ?? {}, 'providers.docker in marionette.yaml');
        const addr = parseEngineAddress(docker.host);
        const client =
          addr.kind === 'unix'
            ? new Dockerode({ socketPath: addr.socketPath })
            : new Dockerode({ host: addr.host, port: addr.port, protocol: addr.protocol });
        const tag = opts.tag ?? docker.image;
        const started = Date.now();
        const specs = opts.with ? parseWith(opts.with) : [];
        const agents = specs.map((s) => `${s.name}@${s.version}`);
        // --if-missing: an image that already has every CLI asked for needs no npm install either.
        const existing = opts.ifMissing ? await existingAgentImage(client, tag, agents) : undefined;
        if (existing !== undefined) {
          process.stdout.write(`${tag} already exists (${existing.slice(0, 19)}); nothing to do\n`);
          return;
        }
        const clis = specs.length ? await installAgentClis(config.home, specs) : null;
        const r = await buildAgentImage({
          docker: client,
          tag,
          ifMissing: opts.ifMissing === true,
          ...(clis ? { extraPaths: [clis.dir], extraLinks: clis.links, agents } : {}),
        });
        process.stdout.write(
          r.built
            ? `built ${r.tag} (${r.id.slice(0, 19)}, ${r.entries} files, ${(r.bytes / 1e6).toFixed(1)} MB) on ${addr.display} in ${((Date.now() - started) / 1000).toFixed(1)}s\n`
            : `${r.tag} already exists (${r.id.slice(0, 19)}); nothing to do\n`,
        );
      } catch (e: unknown) {
        return fail(e);
      }
    });
  await program.parseAsync(argv, { from: 'user' });
}
