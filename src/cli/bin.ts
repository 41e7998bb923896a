/**
 * @module What `bin/mctl` runs: answers `mctl --version` at once, and otherwise loads the CLI
 * (./main.js, commander and the command the arguments name). Bundled into dist/mctl/ (see
 * rolldown.config.mjs) so the CLI starts from a few files instead of a module tree.
 */
import { VERSION } from '../paths.js';

export function run(argv: string[]): Promise<void> {
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
    process.stdout.write(`${VERSION}\n`);
    return Promise.resolve();
  }
  return import('./main.js').then((m) => m.main(argv));
}
