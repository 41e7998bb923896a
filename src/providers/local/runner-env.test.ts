/** A local runner's environment is built from nothing: the server's own variables never reach it. */
import { describe, expect, it } from 'vitest';
import { localRunnerEnv } from './runner-env.js';

describe('localRunnerEnv', () => {
  it('keeps PATH, locale and terminal, sets its own HOME, and drops everything else of the server', () => {
    const env = localRunnerEnv(
      {
        PATH: '/usr/bin:/bin',
        LANG: 'C.UTF-8',
        TERM: 'xterm',
        HOME: '/root',
        MARIONETTE_HOME: '/root/.marionette',
        MARIONETTE_TOKEN: 'mct_admin',
        MARIONETTE_SECRET_KEY: 'key',
        MARIONETTE_DATABASE_URL: 'postgres://u:p@h/db',
        ANTHROPIC_API_KEY: 'sk-ant',
        AWS_SECRET_ACCESS_KEY: 'aws',
        HTTPS_PROXY: 'http://u:p@proxy',
      },
      { home: '/srv/runners/r1.home', own: { MARIONETTE_RUNNER_ID: 'r1', MARIONETTE_GATEWAY: 'unix:/g.sock' } },
    );
    expect(env).toEqual({
      PATH: '/usr/bin:/bin',
      LANG: 'C.UTF-8',
      TERM: 'xterm',
      HOME: '/srv/runners/r1.home',
      MARIONETTE_RUNNER_ID: 'r1',
      MARIONETTE_GATEWAY: 'unix:/g.sock',
    });
  });

  it('passes the names pass_env lists, and gives a PATH when the server has none', () => {
    const env = localRunnerEnv(
      { HTTPS_PROXY: 'http://proxy:3128', OTHER: 'x' },
      { home: '/h', passEnv: ['HTTPS_PROXY'], own: {} },
    );
    expect(env).toEqual({ HTTPS_PROXY: 'http://proxy:3128', PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/h' });
  });
});
