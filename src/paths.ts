/**
 * @module Where the installed package lives (for starting `marionette-agent` and mounting it
 * into sandboxes).
 */
import { fileURLToPath } from 'node:url';

/** The package root (the folder holding `bin/`, `dist/` and `node_modules/`). */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The runner agent's executable script. */
export const AGENT_BIN = fileURLToPath(new URL('../../bin/marionette-agent', import.meta.url));

export const VERSION = '0.1.0';
