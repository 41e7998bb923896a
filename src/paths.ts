/**
 * @module Where the installed package lives (for starting `marionette-agent` and mounting it
 * into sandboxes).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The nearest folder above this module holding `package.json`: the same from `dist/src/` (the
 * built server), `dist/` (the bundled agent) and `src/` (tests importing the sources).
 */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) return fileURLToPath(new URL('../../', import.meta.url));
    dir = up;
  }
  return `${dir}/`;
}

/** The package root (the folder holding `bin/`, `dist/` and `node_modules/`), with a trailing slash. */
export const PACKAGE_ROOT = packageRoot();

/** The runner agent's executable script. */
export const AGENT_BIN = join(PACKAGE_ROOT, 'bin', 'marionette-agent');

export const VERSION = '0.1.0';
