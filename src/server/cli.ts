/**
 * @module `marionette`: the server program (`marionette serve`, `marionette images build`).
 */
import { Command } from 'commander';
import { loadServerConfig } from '../config/index.js';
import { MarionetteError, toError } from '../core/errors.js';
import { VERSION } from '../paths.js';
import { startServer } from './main.js';

function fail(e: unknown): never {
  const err = toError(e);
  if (err instanceof MarionetteError) {
    process.stderr.write(`marionette: ${err.message}\n${err.hint ? `hint: ${err.hint}\n` : ''}`);
    process.exit(2);
  }
  process.stderr.write(`marionette: ${err.message}\n`);
  process.exit(1);
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
    .action(async (opts: { config?: string; port?: string; gatewayPort?: string; home?: string }) => {
      let config: ReturnType<typeof loadServerConfig>;
      try {
        config = loadServerConfig(opts);
      } catch (e: unknown) {
        fail(e);
      }
      let server: Awaited<ReturnType<typeof startServer>>;
      try {
        server = await startServer(config);
      } catch (e: unknown) {
        fail(e);
      }
      const out = process.stderr;
      out.write(`marionette ${VERSION}\n`);
      out.write(`  API       ${server.apiUrl}  (OpenAPI: ${server.apiUrl}/v1/openapi.json)\n`);
      out.write(`  gateway   ${config.gatewayHost}:${server.gatewayPort} and unix:${server.gatewaySocket}\n`);
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
        process.exit(0);
      };
      process.on('SIGINT', () => void stop('SIGINT'));
      process.on('SIGTERM', () => void stop('SIGTERM'));
    });
  await program.parseAsync(argv, { from: 'user' });
}
