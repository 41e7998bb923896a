// Bundles the programs a person or a sandbox starts cold, where one file loads much faster than
// the module tree:
// - marionette-agent into one file (dist/agent.cjs): a sandbox starts it for every runner (see
//   bench/docker.ts);
// - mctl into dist/mctl/ (see bench/cli.ts): an entry that answers `--version` by itself (with the
//   version in its own tiny chunk), and one chunk with the rest (commander, the client, every
//   command), loaded for any other command.
import { defineConfig } from 'rolldown';

// commander requires `node:child_process` at its top for one feature mctl does not use (commands
// run as separate executables), and that module costs every command ~1 ms to load (it brings
// `dgram` and the IPC serializer). In the mctl bundle commander gets this stand-in, which loads it
// on the first call instead (measured: see bench/README.md, CLI latency).
const LAZY_CHILD_PROCESS = '\0mctl:lazy-child-process';
const lazyChildProcess = {
  name: 'mctl-lazy-child-process',
  resolveId(source, importer) {
    if ((source === 'node:child_process' || source === 'child_process') && importer && /[\\/]commander[\\/]/.test(importer))
      return LAZY_CHILD_PROCESS;
    return null;
  },
  load(id) {
    if (id !== LAZY_CHILD_PROCESS) return null;
    return "exports.spawn = (...args) => require('node:child_process').spawn(...args);\n";
  },
};

export default defineConfig([
  {
    input: 'dist/src/agent/main.js',
    platform: 'node',
    // YAML is loaded (from node_modules) only for `--config FILE`; node-pty (a native addon) for
    // the first interactive exec (src/agent/session-pty.ts).
    external: ['yaml', '@lydell/node-pty'],
    // One file still: the agent's lazy imports (ws, commander) stay in it, evaluated on first use.
    // CommonJS: started from a CommonJS entry (bin/marionette-agent), it needs no ESM loader.
    output: { file: 'dist/agent.cjs', format: 'cjs', minify: true, sourcemap: false, codeSplitting: false },
    logLevel: 'warn',
  },
  {
    input: { mctl: 'dist/src/cli/bin.js' },
    platform: 'node',
    plugins: [lazyChildProcess],
    // main.ts imports each noun's commands on demand; in one chunk that defers their evaluation only.
    checks: { ineffectiveDynamicImport: false },
    // YAML is loaded (from node_modules) only for `-o yaml`.
    external: ['yaml'],
    output: {
      dir: 'dist/mctl',
      // Old chunks (their names carry a hash) are removed, so the folder holds one build.
      cleanDir: true,
      // CommonJS: a CommonJS entry starts without Node's ESM loader (measured: see bench/README.md).
      format: 'cjs',
      entryFileNames: '[name].cjs',
      chunkFileNames: '[name]-[hash].cjs',
      // Everything past the entry in one chunk: one file to load beats a chunk per command noun
      // (measured: `pools list` 14 ms faster, the commands' code is small next to commander).
      codeSplitting: {
        groups: [
          // The version stays with the entry, so `mctl --version` loads only that.
          { name: 'version', test: /[\\/]src[\\/]paths\.js$/, priority: 2 },
          // The code cache's loader: small, loaded before the CLI chunk (never by `--version`).
          { name: 'compile-cache', test: /[\\/]src[\\/]compile-cache\.js$/, priority: 2 },
          { name: 'cli', priority: 1, test: /^(?!.*[\\/]cli[\\/]bin\.js$).*([\\/]src[\\/](cli|client|config|core|agent|protocol)[\\/]|commander)/ },
        ],
      },
      minify: true,
      sourcemap: false,
    },
    logLevel: 'warn',
  },
]);
