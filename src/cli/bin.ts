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
  // In the bundle (dist/mctl/mctl.cjs, CommonJS) the CLI chunk beside it loads through the code
  // cache (../compile-cache.ts; its own small chunk, so `--version` loads none of it).
  const bundled = typeof __filename === 'string' && __filename.endsWith('.cjs') ? __filename : null;
  return (bundled ? import('../compile-cache.js').then((c) => c.useCompileCache(c.dirOf(bundled))) : Promise.resolve())
    .then(() => import('./main.js'))
    .then((m) => m.main(argv));
}
