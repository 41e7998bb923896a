// Bundles the programs a person or a sandbox starts cold, where one file loads much faster than
// the module tree:
// - marionette-agent into one file (dist/agent.mjs): a sandbox starts it for every runner (see
//   bench/docker.ts);
// - mctl into dist/mctl/ (see bench/cli.ts): an entry that answers `--version` by itself, and
//   chunks loaded on demand (the CLI's core with commander, then one chunk per command noun).
import { defineConfig } from 'rolldown';

export default defineConfig([
  {
    input: 'dist/src/agent/main.js',
    platform: 'node',
    // YAML is loaded (from node_modules) only for `--config FILE`.
    external: ['yaml'],
    output: { file: 'dist/agent.mjs', format: 'esm', minify: true, sourcemap: false },
    logLevel: 'warn',
  },
  {
    input: { mctl: 'dist/src/cli/bin.js' },
    platform: 'node',
    // YAML is loaded (from node_modules) only for `-o yaml`.
    external: ['yaml'],
    output: {
      dir: 'dist/mctl',
      // Old chunks (their names carry a hash) are removed, so the folder holds one build.
      cleanDir: true,
      format: 'esm',
      entryFileNames: '[name].mjs',
      chunkFileNames: '[name]-[hash].mjs',
      minify: true,
      sourcemap: false,
    },
    logLevel: 'warn',
  },
]);
