/**
 * @module TEST-ONLY crash points. When the server was started with `MARIONETTE_FAULT` naming a
 * point (read by src/config; see `FAULT_POINTS` in src/core/suspend-steps.ts), reaching that point
 * kills the server process with SIGKILL, exactly as `kill -9` would, so the crash-recovery tests
 * can stop a real server at an exact step of a suspend or resume. Unset (always, outside tests),
 * `crashPoint` does nothing.
 */
import type { ServerConfig } from '../config/index.js';

/**
 * Dies here (SIGKILL to this process) when `config.faultPoint` is `name`.
 *
 * @example
 * crashPoint(ctx.config, `suspend:${strategy}:stopped`);
 */
export function crashPoint(config: Pick<ServerConfig, 'faultPoint'>, name: string): void {
  if (config.faultPoint !== null && config.faultPoint === name) process.kill(process.pid, 'SIGKILL');
}
