/** A task's environment: the agent's own secrets and settings stay out, the assignment's env goes in. */
import { describe, expect, it } from 'vitest';
import { taskEnv } from './task-env.js';

describe('taskEnv', () => {
  it("drops the agent's registration token, state folder and other MARIONETTE_* settings", () => {
    const env = taskEnv(
      {
        PATH: '/usr/bin',
        HOME: '/h',
        MARIONETTE_REGISTRATION_TOKEN: 'mrt_secret',
        RUNNER_TOKEN: 'mrt_old',
        MARIONETTE_AGENT_STATE: '/state',
        MARIONETTE_TOKEN: 'mct_admin',
        MARIONETTE_HOME: '/srv/marionette',
        MARIONETTE_SECRET_KEY: 'k',
        MARIONETTE_RUNNER_ID: 'run_1',
        MARIONETTE_GATEWAY: 'unix:/x.sock',
        UNSET: undefined,
      },
      { A: '{{workspace}}/a', MARIONETTE_TASK_ID: 'tsk_1' },
      '/w',
    );
    expect(env).toEqual({
      PATH: '/usr/bin',
      HOME: '/h',
      MARIONETTE_RUNNER_ID: 'run_1',
      MARIONETTE_GATEWAY: 'unix:/x.sock',
      A: '/w/a',
      MARIONETTE_TASK_ID: 'tsk_1',
      MARIONETTE_WORKSPACE: '/w',
    });
  });
});
