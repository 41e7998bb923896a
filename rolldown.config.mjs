// Bundles marionette-agent into one file (dist/agent.mjs): a sandbox starts it cold for every
// runner, and one file loads about twice as fast as the module tree (see bench/docker.ts).
import { defineConfig } from 'rolldown';

export default defineConfig({
  input: 'dist/src/agent/main.js',
  platform: 'node',
  // YAML is loaded (from node_modules) only for `--config FILE`.
  external: ['yaml'],
  output: { file: 'dist/agent.mjs', format: 'esm', minify: true, sourcemap: false },
  logLevel: 'warn',
});
