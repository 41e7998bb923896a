/**
 * @module Agent cards: the built-ins (`shell`, `claude`, `codex`), config-defined cards, and
 * rendering a card's launch command for a task.
 */
import type { AgentCardFileConfig } from '../config/index.js';
import { isRequirementKind, isRuntimeKind } from '../core/capabilities.js';
import { InvalidRequest } from '../core/errors.js';
import {
  type AgentCard,
  FIXED_REQUIREMENT_KINDS,
  type RequirementKind,
  RUNTIME_KINDS,
  type RuntimeKind,
} from '../core/types.js';

export const BUILT_IN_AGENTS: readonly AgentCard[] = [
  {
    name: 'shell',
    description: 'Runs the prompt as a bash script (bash -lc)',
    runtimes: [{ kind: 'native' }],
    requires: [],
    command: ['bash', '-lc', '{{prompt}}'],
    env: {},
    requiredEnv: [],
    kits: [],
    builtIn: true,
  },
  {
    name: 'claude',
    description: 'Claude Code, non-interactive, stream-json output (needs `claude` on PATH and ANTHROPIC_API_KEY)',
    runtimes: [{ kind: 'npm' }, { kind: 'native' }],
    requires: [{ kind: 'network-egress' }],
    command: ['claude', '-p', '{{prompt}}', '--output-format', 'stream-json', '--verbose'],
    env: {},
    requiredEnv: ['ANTHROPIC_API_KEY'],
    kits: [],
    builtIn: true,
  },
  {
    name: 'codex',
    description: 'OpenAI Codex CLI (`codex exec`), needs `codex` on PATH and OPENAI_API_KEY',
    runtimes: [{ kind: 'npm' }, { kind: 'native' }],
    requires: [{ kind: 'network-egress' }],
    command: ['codex', 'exec', '--skip-git-repo-check', '{{prompt}}'],
    env: {},
    requiredEnv: ['OPENAI_API_KEY'],
    kits: [],
    builtIn: true,
  },
];

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
  };
}

/** Replaces `{{prompt}}` in each argv element. */
export function renderCommand(card: AgentCard, prompt: string): string[] {
  return card.command.map((part) => part.split('{{prompt}}').join(prompt));
}
