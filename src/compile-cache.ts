/**
 * @module A V8 code cache for mctl's bundled CLI (dist/mctl/). Node 20 has no
 * `module.enableCompileCache` (Node 22), so every `mctl` command compiled the ~100 kB CLI chunk
 * (commander, the client, every command) from source again: ~10 ms of a command's start on the
 * development machine (measured: see bench/README.md, CLI latency). With this, the chunk is
 * compiled through `vm.Script` with the code V8 produced on an earlier run.
 *
 * - The cache is the user's own: `$XDG_CACHE_HOME/marionette` (default `~/.cache/marionette`),
 *   made 0700, files 0600, and a file is used only if it belongs to this user (V8's code cache is
 *   compiled code: it must never come from someone else).
 * - A chunk's file name carries a hash of its content, and the cache file's name carries the chunk's
 *   and Node's version, so a new build or Node gets its own; V8 itself rejects data made by another
 *   V8 or with other flags (`cachedDataRejected`), and the file is then written again.
 * - A file not written for a day ({@link STALE_MS}) is removed when a new one is written, so the
 *   folder holds the builds in use, not every build ever run.
 * - The cache is written when the process exits, after the command ran, so it holds the functions
 *   the command compiled too (commander's parsing, the client), not only the chunk's top level.
 * - Anything that goes wrong (no home, a read-only disk, a chunk with `import()`, which a
 *   `vm.Script` cannot run on Node 20) falls back to Node's own loader, silently: the cache only
 *   ever saves time. `MARIONETTE_COMPILE_CACHE=0` turns it off.
 */
import { chmodSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { Script } from 'node:vm';

type Loader = (module: NodeJS.Module, filename: string) => void;
interface ModuleInternals {
  _extensions: Record<string, Loader>;
  wrap(source: string): string;
}

/** The folder of a file (the bundle's entry passes its own `__filename`). */
export function dirOf(file: string): string {
  return dirname(file);
}

/** Where the cache lives, or null when there is no home to put it in. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string | null {
  const base = env.XDG_CACHE_HOME || (homedir() ? join(homedir(), '.cache') : '');
  return base ? join(base, 'marionette') : null;
}

/** The cached code for `file` if it is there and this user's own; null otherwise. */
function readOwn(file: string): Buffer | null {
  try {
    const st = statSync(file);
    if (typeof process.getuid === 'function' && st.uid !== process.getuid()) return null;
    return readFileSync(file);
  } catch {
    return null;
  }
}

/** A cache file not written for this long is another build's or Node's, and is removed when a new one is written. */
export const STALE_MS = 24 * 3600_000;

function save(dir: string, file: string, data: Buffer): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, data, { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, file);
  } catch {
    return; // no cache this time
  }
  // Each build has its own file: the folder keeps only those used lately, so it does not grow.
  const now = Date.now();
  for (const name of readdirSafe(dir)) {
    const other = join(dir, name);
    if (other === file || !/\.bin(\.\d+\.tmp)?$/.test(name)) continue;
    try {
      if (now - statSync(other).mtimeMs > STALE_MS) rmSync(other, { force: true });
    } catch {
      /* gone already */
    }
  }
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * Loads the CommonJS chunks in `bundleDir` (`*.cjs`, as rolldown writes dist/mctl/) through the
 * code cache from now on; other files load as before.
 */
export function useCompileCache(bundleDir: string, env: NodeJS.ProcessEnv = process.env): void {
  if (env.MARIONETTE_COMPILE_CACHE === '0') return;
  const dir = cacheDir(env);
  if (!dir) return;
  const internals = Module as unknown as ModuleInternals;
  const exts = internals._extensions;
  const fallback = exts['.cjs'] ?? exts['.js'];
  if (!fallback) return;
  exts['.cjs'] = (module, filename) => {
    if (dirname(filename) !== bundleDir) return fallback(module, filename);
    let source: string;
    try {
      source = readFileSync(filename, 'utf8');
    } catch {
      return fallback(module, filename);
    }
    if (source.includes('import(')) return fallback(module, filename);
    const file = join(dir, `${basename(filename, '.cjs')}-v8-${process.versions.v8}-${process.arch}.bin`);
    const cached = readOwn(file);
    const script = new Script(internals.wrap(source), {
      filename,
      ...(cached ? { cachedData: cached } : {}),
    });
    if (!cached || script.cachedDataRejected) process.once('exit', () => save(dir, file, script.createCachedData()));
    const fn = script.runInThisContext() as (
      exports: unknown,
      require: NodeJS.Require,
      module: NodeJS.Module,
      filename: string,
      dirname: string,
    ) => void;
    fn.call(module.exports, module.exports, createRequire(filename), module, filename, dirname(filename));
  };
}
