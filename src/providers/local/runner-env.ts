/**
 * @module The environment of a local runner (a `marionette-agent` child of the server) and, through
 * it, of its tasks: built from nothing, never the server's own environment. It holds what the
 * agent needs to run and dial in (PATH, locale, terminal, a HOME of its own, its MARIONETTE_*
 * boot values) plus the names `pass_env` lists. The server's secrets (its API token, the at-rest
 * key, database URL, agent credentials, anything else in its environment) and its
 * `MARIONETTE_HOME` are not there: agent credentials reach a task only in its assignment, when
 * its agent card asks for them.
 */

type Env = Record<string, string | undefined>;

/**
 * Names taken from the server's environment when set: the program search path, locale, terminal
 * and time zone, the user's name; and the test suite's run marker (`MARIONETTE_TEST_RUN`, no
 * secret: it lets a test run find the processes it started, see test/leftovers.support.ts).
 */
export const RUNNER_BASE_ENV: readonly string[] = [
  'PATH',
  'LANG',
  'LANGUAGE',
  'LC_ALL',
  'LC_CTYPE',
  'LC_MESSAGES',
  'TERM',
  'TZ',
  'USER',
  'LOGNAME',
  'MARIONETTE_TEST_RUN',
];

/**
 * A local runner's environment: the RUNNER_BASE_ENV and `passEnv` names found in `host` (the
 * server's environment), a default PATH when it has none, `HOME` set to `home`, then the runner's
 * own values (`own`: its boot values, state dir), which win.
 * @example localRunnerEnv(process.env, { home: '/srv/m/runners/r1.home', own: { MARIONETTE_RUNNER_ID: 'r1' } })
 */
export function localRunnerEnv(
  host: Env,
  opts: { home: string; passEnv?: readonly string[]; own: Record<string, string> },
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of [...RUNNER_BASE_ENV, ...(opts.passEnv ?? [])]) {
    const v = host[name];
    if (v !== undefined) out[name] = v;
  }
  out.PATH ??= '/usr/local/bin:/usr/bin:/bin';
  out.HOME = opts.home;
  return { ...out, ...opts.own };
}
