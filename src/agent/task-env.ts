/**
 * @module The environment a task runs with: the agent's own environment without what is the
 * agent's alone, plus the assignment's env (the card's, the session's, the credentials its card
 * requires) and `MARIONETTE_WORKSPACE`. A task never sees the agent's registration token (a pool's
 * reusable token would let it enrol runners), its state folder (the runner credential lives
 * there), or any other `MARIONETTE_*` setting of the machine (an mctl token, a server's home,
 * key or database URL), whichever way the agent was started.
 */

type Env = Record<string, string | undefined>;

/**
 * `MARIONETTE_*` names a task keeps from the agent's environment: who and where the runner is (no
 * secret; the gateway address alone lets nobody in), and the test suite's markers (see test/leftovers.support.ts).
 */
const KEPT = new Set([
  'MARIONETTE_RUNNER_ID',
  'MARIONETTE_RUNNER_NAME',
  'MARIONETTE_GATEWAY',
  'MARIONETTE_TEST_RUN',
  'MARIONETTE_TEST_AGENTS',
]);

/** Names of the agent's own secrets outside the `MARIONETTE_` prefix (`RUNNER_TOKEN`, an old name of the token). */
const DROPPED = new Set(['RUNNER_TOKEN']);

/** Env values may name the task's workspace as `{{workspace}}` (only the runner knows where it is). */
function withWorkspace(env: Record<string, string>, workspace: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) out[k] = v.split('{{workspace}}').join(workspace);
  return out;
}

/**
 * The task's environment from the agent's (`agentEnv`, usually `process.env`), the assignment's
 * env and the workspace.
 * @example taskEnv({ PATH: '/bin', MARIONETTE_REGISTRATION_TOKEN: 't' }, { A: '{{workspace}}/x' }, '/w')
 *   // => { PATH: '/bin', A: '/w/x', MARIONETTE_WORKSPACE: '/w' }
 */
export function taskEnv(
  agentEnv: Env,
  assignmentEnv: Record<string, string>,
  workspace: string,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(agentEnv)) {
    if (v === undefined || DROPPED.has(k)) continue;
    if (k.startsWith('MARIONETTE_') && !KEPT.has(k)) continue;
    out[k] = v;
  }
  return { ...out, ...withWorkspace(assignmentEnv, workspace), MARIONETTE_WORKSPACE: workspace };
}
