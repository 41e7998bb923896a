// The dashboard's build: web/ → dist/web/ (served by `marionette serve` at /). See docs/dashboard.md.
// Preact's JSX is compiled by Vite's own transformer (automatic runtime, preact/jsx-runtime): no
// plugin needed, and the build takes about half the CPU time it took with @preact/preset-vite.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    sourcemap: false,
    target: 'es2022',
    reportCompressedSize: false,
  },
});
