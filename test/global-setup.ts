/**
 * @module Vitest global setup: the end-to-end tests run the built programs (`bin/*` load
 * `dist/`), so make sure the build is there.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export default function setup(): void {
  if (!existsSync(new URL('../dist/src/agent/main.js', import.meta.url))) {
    execFileSync('npm', ['run', 'build'], { stdio: 'inherit' });
  }
}
