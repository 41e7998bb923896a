/**
 * @module Agent cards: the built-ins (`shell`, `claude`, `codex`, `gemini`, `opencode`; each
 * flag and why in docs/agents.md), config- and API-defined cards, and turning a card into what a
 * task runs (argv with the prompt where no option parser can take it, the resume arguments of the
 * session's conversation, environment, setup, timeout), with an exact hint for each missing key.
 */
import { TaskTimeoutMs } from '../api/schemas.js';
import type { AgentCardFileConfig, ServerConfig } from '../config/index.js';
import { isRequirementKind, isRuntimeKind } from '../core/capabilities.js';
import { InvalidRequest } from '../core/errors.js';
import {
  type AgentCard,
  FIXED_REQUIREMENT_KINDS,
  OUTCOME_KINDS,
  type OutcomeKind,
  type Profile,
  type RequirementKind,
  RUNTIME_KINDS,
  type RuntimeKind,
} from '../core/types.js';
import type { TaskAssignment } from '../protocol/messages.js';
import type { Session, Task } from '../store/records.js';

/** A task timeout given through the API (ms, up to a week). */
export { TaskTimeoutMs };

/** Where an agent keeps its conversations: inside the workspace, so they move with it on suspend and resume. */
const STATE = '{{workspace}}/.marionette';
/** Keeps the agents' state out of the user's commits. */
const IGNORE_STATE =
  'mkdir -p "$MARIONETTE_WORKSPACE/.marionette" && printf "*\\n" > "$MARIONETTE_WORKSPACE/.marionette/.gitignore"';

export const BUILT_IN_AGENTS: readonly AgentCard[] = [
  {
    name: 'shell',
    description: 'Runs the prompt as a bash script (bash -c; no login profile)',
    runtimes: [{ kind: 'native' }],
    requires: [],
    command: ['bash', '-c', '--', '{{prompt}}'],
    env: {},
    requiredEnv: [],
    kits: [],
    builtIn: true,
    outcome: 'exit',
  },
  {
    name: 'claude',
    description: 'Claude Code (`claude -p`), unattended in its sandbox, stream-json events; needs `claude` on PATH',
    runtimes: [{ kind: 'npm' }, { kind: 'native' }],
    requires: [{ kind: 'network-egress' }],
    command: [
      'claude',
      '-p',
      '--output-format',
      'stream-json',
      '--verbose',
      '--permission-mode',
      'bypassPermissions',
      '{{resume}}',
      '--',
      '{{prompt}}',
    ],
    resume: ['--resume', '{{conversation}}'],
    env: {
      IS_SANDBOX: '1',
      CLAUDE_CONFIG_DIR: `${STATE}/claude`,
      CLAUDE_CODE_MAX_RETRIES: '2',
      DISABLE_AUTOUPDATER: '1',
      DISABLE_TELEMETRY: '1',
      DISABLE_ERROR_REPORTING: '1',
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    },
    requiredEnv: ['ANTHROPIC_API_KEY'],
    kits: [],
    builtIn: true,
    outcome: 'claude',
    setup: [IGNORE_STATE],
  },
  {
    name: 'codex',
    description: 'OpenAI Codex CLI (`codex exec --json`), unattended in its sandbox; needs `codex` on PATH',
    runtimes: [{ kind: 'npm' }, { kind: 'native' }],
    requires: [{ kind: 'network-egress' }],
    command: [
      'codex',
      'exec',
      '{{resume}}',
      '--json',
      '--skip-git-repo-check',
      '--dangerously-bypass-approvals-and-sandbox',
      '-c',
      'check_for_update_on_startup=false',
      '--',
      '{{prompt}}',
    ],
    resume: ['resume', '{{conversation}}'],
    env: { CODEX_HOME: `${STATE}/codex` },
    requiredEnv: ['OPENAI_API_KEY'],
    kits: [],
    builtIn: true,
    outcome: 'codex',
    setup: [
      IGNORE_STATE,
      // CODEX_HOME must exist. The OpenAI Responses API as a provider of its own: bounded retries
      // (the built-in provider's cannot be changed), no WebSocket detour, OPENAI_BASE_URL honoured.
      'mkdir -p "$CODEX_HOME" || exit 1; u="$OPENAI_BASE_URL"; [ -n "$u" ] || u=https://api.openai.com/v1; ' +
        'printf \'model_provider = "marionette-openai"\\n\\n[model_providers.marionette-openai]\\nname = "OpenAI"\\nbase_url = "%s"\\nenv_key = "OPENAI_API_KEY"\\nwire_api = "responses"\\nrequest_max_retries = 2\\nstream_max_retries = 2\\nsupports_websockets = false\\n\' "$u" > "$CODEX_HOME/config.toml"',
    ],
  },
  {
    name: 'gemini',
    description: 'Gemini CLI (`gemini --prompt=...`), yolo approval mode, stream-json events; needs `gemini` on PATH',
    runtimes: [{ kind: 'npm' }, { kind: 'native' }],
    requires: [{ kind: 'network-egress' }],
    command: [
      'gemini',
      '--output-format',
      'stream-json',
      '--approval-mode',
      'yolo',
      '--skip-trust',
      '{{resume}}',
      '--prompt={{prompt}}',
    ],
    resume: ['--resume', '{{conversation}}'],
    env: { GEMINI_CLI_HOME: `${STATE}/gemini`, GEMINI_TELEMETRY_ENABLED: 'false' },
    requiredEnv: ['GEMINI_API_KEY'],
    kits: [],
    builtIn: true,
    outcome: 'gemini',
    setup: [
      IGNORE_STATE,
      // API-key auth (headless gemini stops at "Invalid auth method selected" otherwise), no usage statistics.
      'mkdir -p "$GEMINI_CLI_HOME/.gemini" && [ -f "$GEMINI_CLI_HOME/.gemini/settings.json" ] || printf \'{"security":{"auth":{"selectedType":"gemini-api-key"}},"privacy":{"usageStatisticsEnabled":false}}\\n\' > "$GEMINI_CLI_HOME/.gemini/settings.json"',
    ],
  },
  {
    name: 'opencode',
    description: 'opencode (`opencode run --format json --auto`); needs `opencode` on PATH and its provider key',
    runtimes: [{ kind: 'npm' }, { kind: 'native' }],
    requires: [{ kind: 'network-egress' }],
    command: ['opencode', 'run', '--format', 'json', '--auto', '{{resume}}', '--', '{{prompt}}'],
    resume: ['--session', '{{conversation}}'],
    env: {
      XDG_DATA_HOME: `${STATE}/opencode/data`,
      XDG_STATE_HOME: `${STATE}/opencode/state`,
      OPENCODE_DISABLE_AUTOUPDATE: '1',
      OPENCODE_DISABLE_MODELS_FETCH: '1',
    },
    requiredEnv: [],
    kits: [],
    builtIn: true,
    outcome: 'opencode',
    setup: [IGNORE_STATE],
  },
];

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Builds a card from its config/API form. */
export function agentCardFromConfig(name: string, c: AgentCardFileConfig): AgentCard {
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(name))
    throw new InvalidRequest(`agent name ${JSON.stringify(name)} must be lowercase letters, digits, . _ -`);
  if (BUILT_IN_AGENTS.some((a) => a.name === name))
    throw new InvalidRequest(`agent ${JSON.stringify(name)} is built in and cannot be redefined`);
  for (const [i, r] of c.runtimes.entries())
    if (!isRuntimeKind(r.kind))
      throw new InvalidRequest(
        `agent ${name}: runtimes[${i}].kind ${JSON.stringify(r.kind)} is not a runtime kind (expected one of ${RUNTIME_KINDS.join(', ')})`,
      );
  for (const [i, r] of c.requires.entries())
    if (!isRequirementKind(r.kind))
      throw new InvalidRequest(
        `agent ${name}: requires[${i}].kind ${JSON.stringify(r.kind)} is not a requirement kind (expected one of ${FIXED_REQUIREMENT_KINDS.join(', ')}, toolchain:<name>)`,
      );
  if (c.outcome !== undefined && !(OUTCOME_KINDS as readonly string[]).includes(c.outcome))
    throw new InvalidRequest(
      `agent ${name}: outcome ${JSON.stringify(c.outcome)} is not one of ${OUTCOME_KINDS.join(', ')}`,
    );
  for (const n of [...Object.keys(c.env), ...c.required_env])
    if (!ENV_NAME.test(n))
      throw new InvalidRequest(`agent ${name}: env name ${JSON.stringify(n)} must be letters, digits and _`);
  if (!c.command.some((p) => p.includes('{{prompt}}')))
    throw new InvalidRequest(`agent ${name}: command never uses {{prompt}}, so the task's prompt would be lost`);
  if (c.resume && !c.command.includes('{{resume}}'))
    throw new InvalidRequest(`agent ${name}: resume is set but the command has no {{resume}} element to put it in`);
  return {
    name,
    description: c.description,
    runtimes: c.runtimes.map((r) => ({ kind: r.kind as RuntimeKind })),
    requires: c.requires.map((r) => ({ kind: r.kind as RequirementKind })),
    command: c.command,
    env: c.env,
    requiredEnv: c.required_env,
    kits: c.kits,
    builtIn: false,
    ...(c.resume ? { resume: c.resume } : {}),
    ...(c.outcome ? { outcome: c.outcome as OutcomeKind } : {}),
    ...(c.setup?.length ? { setup: c.setup } : {}),
    ...(c.task_timeout ? { taskTimeoutMs: c.task_timeout } : {}),
    ...(c.env_hints ? { envHints: c.env_hints } : {}),
    ...(c.login_shell ? { loginShell: true } : {}),
  };
}

/**
 * The argv that runs `argv` inside a login shell (`bash -l`, which reads the login profile first:
 * /etc/profile, then ~/.bash_profile, ~/.bash_login or ~/.profile), each element still one
 * argument: `"$@"` passes them through untouched, `exec` leaves no shell behind.
 */
export const LOGIN_SHELL_PREFIX: readonly string[] = ['bash', '-lc', 'exec "$@"', 'bash'];

/**
 * Renders a card's argv for a task: `{{prompt}}` becomes the prompt inside its element (so the
 * prompt is always one argument, placed after `--` or in a `--prompt=` form by the card), and an
 * element that is exactly `{{resume}}` becomes the card's resume arguments for `conversationId`,
 * or disappears when there is none.
 *
 * A card with `loginShell` runs its argv inside a login shell (LOGIN_SHELL_PREFIX).
 *
 * @example renderCommand(claude, '--version', 'abc') // [..., '--resume', 'abc', '--', '--version']
 */
export function renderCommand(card: AgentCard, prompt: string, conversationId: string | null = null): string[] {
  const out: string[] = [];
  for (const part of card.command) {
    if (part === '{{resume}}') {
      if (conversationId && card.resume)
        for (const r of card.resume) out.push(r.split('{{conversation}}').join(conversationId));
      continue;
    }
    out.push(part.split('{{prompt}}').join(prompt));
  }
  return card.loginShell ? [...LOGIN_SHELL_PREFIX, ...out] : out;
}

/** What the server knows that decides a task's environment and limits. */
export interface TaskContext {
  /** Env the session was created with (`--env`). */
  sessionEnv: Record<string, string>;
  /** Keys the server passes through from its own environment. */
  credentialsEnv: Record<string, string>;
  /** Names the server would pass through if set (for the hint). */
  credentialNames: string[];
  /** Timeouts: the session's, the profile's, the server default. */
  sessionTimeoutMs: number | null;
  profileTimeoutMs: number | null;
  defaultTimeoutMs: number;
  conversationId: string | null;
}

/** The task's timeout: the session's, else its profile's, else the card's, else the server default. */
export function taskTimeout(
  card: AgentCard,
  t: Pick<TaskContext, 'sessionTimeoutMs' | 'profileTimeoutMs' | 'defaultTimeoutMs'>,
): number {
  return t.sessionTimeoutMs ?? t.profileTimeoutMs ?? card.taskTimeoutMs ?? t.defaultTimeoutMs;
}

/** Exactly how to provide a missing key. */
export function missingEnvHint(card: AgentCard, name: string, credentialNames: string[]): string {
  const own = card.envHints?.[name];
  const passed = credentialNames.includes(name)
    ? `set ${name} in the server's environment`
    : `start the server with ${name} set and MARIONETTE_PASSTHROUGH_ENV=${name} (it passes only the names listed there, besides ANTHROPIC_API_KEY, OPENAI_API_KEY and GEMINI_API_KEY)`;
  return `${own ? `${own}; ` : ''}${passed}, or pass it to the session with \`mctl sessions create --agent ${card.name} --env ${name}=...\``;
}

export interface RenderedTask {
  command: string[];
  env: Record<string, string>;
  setup: string[];
  outcome: OutcomeKind;
  timeoutMs: number;
  /** Required keys that are not set, each with how to provide it. */
  missing: { name: string; hint: string }[];
}

/** Everything a task of `card` gets, from the prompt and what the server knows. */
export function renderTask(card: AgentCard, prompt: string, t: TaskContext): RenderedTask {
  const env: Record<string, string> = { ...card.env };
  for (const name of card.requiredEnv) {
    const v = t.sessionEnv[name] ?? t.credentialsEnv[name];
    if (v !== undefined) env[name] = v;
  }
  Object.assign(env, t.sessionEnv);
  const missing = card.requiredEnv
    .filter((n) => !env[n])
    .map((name) => ({ name, hint: missingEnvHint(card, name, t.credentialNames) }));
  return {
    command: renderCommand(card, prompt, t.conversationId),
    env,
    setup: card.setup ?? [],
    outcome: card.outcome ?? 'exit',
    timeoutMs: taskTimeout(card, t),
    missing,
  };
}

/** The task context of a session's task, from what the server knows. */
export function taskContext(
  session: Session,
  task: Pick<Task, 'id'> & { timeoutMs?: number | null },
  config: Pick<ServerConfig, 'credentialsEnv' | 'credentialNames' | 'taskTimeoutMs'>,
  profile: Pick<Profile, 'taskTimeoutMs'> | null,
  conversationId: string | null,
): TaskContext {
  const req = session.request;
  return {
    sessionEnv: { ...req.env, MARIONETTE_SESSION_ID: session.id, MARIONETTE_TASK_ID: task.id },
    credentialsEnv: config.credentialsEnv,
    credentialNames: config.credentialNames,
    // The task's own timeout wins over the session's (both are the request's, per task or per session).
    sessionTimeoutMs: task.timeoutMs ?? req.taskTimeoutMs ?? null,
    profileTimeoutMs: profile?.taskTimeoutMs ?? null,
    defaultTimeoutMs: config.taskTimeoutMs,
    conversationId,
  };
}

/** The task's error when required keys are missing: each name with exactly how to provide it. */
export function missingEnvError(card: AgentCard, missing: RenderedTask['missing']): string {
  return `agent ${card.name} needs ${missing.map((m) => `${m.name}: ${m.hint}`).join('; ')}`;
}

/** The rendered parts of a task assignment. */
export function assignmentFields(
  r: RenderedTask,
): Pick<TaskAssignment, 'command' | 'env' | 'setup' | 'outcome' | 'timeoutMs'> {
  return { command: r.command, env: r.env, setup: r.setup, outcome: r.outcome, timeoutMs: r.timeoutMs };
}
