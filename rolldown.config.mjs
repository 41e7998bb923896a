// Bundles marionette-agent into one file (dist/agent.mjs): a sandbox starts it cold for every
// runner, and one file loads about twice as fast as the module tree (see bench/docker.ts).
import { defineConfig } from 'rolldown';

export default defineConfig({
  input: 'dist/src/agent/main.js',
  platform: 'node',
  // YAML is loaded (from node_modules) only for `--config FILE`.
  external: ['yaml'],
  // One file still: the agent's lazy imports (ws, commander) stay in it, evaluated on first use.
  output: { file: 'dist/agent.mjs', format: 'esm', minify: true, sourcemap: false, codeSplitting: false },
  logLevel: 'warn',
});
