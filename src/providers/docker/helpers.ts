/**
 * @module Small helpers of the docker provider: docker-safe object names, the package root mounted
 * into containers, loopback detection of a gateway URL, and reading a handle's metadata.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidRequest } from '../../core/errors.js';
import type { SandboxHandle } from '../types.js';

/** Docker object names allow `[a-zA-Z0-9][a-zA-Z0-9_.-]*`. */
export function safeName(s: string): string {
  const cleaned = s.replace(/[^a-zA-Z0-9_.-]/g, '-').replace(/^[^a-zA-Z0-9]+/, '');
  return cleaned.length > 0 ? cleaned : 'x';
}

let packageRootCache: string | undefined;
/** The marionette package root (holds `bin/marionette-agent`, `dist/`, `node_modules/`). */
export function findPackageRoot(): string {
  if (packageRootCache !== undefined) return packageRootCache;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      const name = (JSON.parse(readFileSync(pj, 'utf8')) as { name?: unknown }).name;
      if (name === 'marionette') {
        packageRootCache = dir;
        return dir;
      }
    }
    const up = dirname(dir);
    if (up === dir)
      throw new InvalidRequest('cannot find the marionette package root; set packageRoot in the docker config');
    dir = up;
  }
}

export function isLoopbackUrl(url: string): boolean {
  if (url.startsWith('unix:')) return false;
  try {
    const h = new URL(url).hostname;
    return h === 'localhost' || h === '::1' || h === '[::1]' || h.startsWith('127.');
  } catch {
    return false;
  }
}

export function meta(handle: SandboxHandle, key: string): string | undefined {
  const v = handle.metadata[key];
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}
