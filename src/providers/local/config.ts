/**
 * @module Config of the `local` provider (`providers.local` in marionette.yaml).
 */
import { z } from 'zod';
import { ProviderSuspendConfig } from '../descriptor.js';

export const LocalConfig = z.strictObject({
  /** Folder holding one workspace per session. Default `$MARIONETTE_HOME/workspaces`. */
  workspaces_dir: z.string().optional(),
  /** Seconds between SIGTERM and SIGKILL when a runner is terminated. Default 2. */
  kill_grace_seconds: z.number().min(0).default(2),
  /**
   * Idle runners the default `local` pool keeps warm (its `min_runners` when the server creates it
   * on first start), so a new session starts on a runner that is already registered. Default 1; 0
   * keeps none. A pool's own `min_runners` (API, `pools:`) is not touched by it.
   */
  warm_runners: z.number().int().min(0).max(10_000).default(1),
  /**
   * Names of the server's environment variables local runners (and so their tasks) also get.
   * Default none: a runner's environment is built from nothing (src/providers/local/runner-env.ts:
   * PATH, locale, TERM, TZ, USER, a HOME of its own and its own MARIONETTE_* boot values).
   */
  pass_env: z
    .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment variable names are letters, digits and _'))
    .default([]),
  /**
   * HOME of every local runner and its tasks. Default: a folder of each runner's own,
   * `$MARIONETTE_HOME/runners/<runner>.home` (0700, removed with the runner); never the server's HOME.
   */
  runner_home: z.string().startsWith('/', 'expected an absolute path').optional(),
  /**
   * The default `local` pool's nested sandbox, set when the server creates that pool (first
   * start): `auto` (default) runs every task in a bubblewrap (else gVisor) sandbox when the host
   * has one, `bubblewrap` or `gvisor` asks for that runtime, `off` runs tasks with the runner's
   * privileges. Env MARIONETTE_LOCAL_SANDBOX wins. See docs/isolation.md.
   */
  nested_sandbox: z.enum(['auto', 'bubblewrap', 'gvisor', 'off']).default('auto'),
  /** Default suspend config of local pools (a pool's own wins). Default terminate_preserve_storage, fallback terminate. */
  suspend_config: ProviderSuspendConfig.optional(),
});
export type LocalConfig = z.infer<typeof LocalConfig>;
