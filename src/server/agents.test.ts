/**
 * Agent cards: the prompt is always one argument no option parser can take, follow-up tasks get
 * the resume arguments, timeouts resolve session > profile > card > default, every missing key
 * gets an exact hint, and a task's end state is the agent's own outcome.
 */
import { describe, expect, it } from 'vitest';
import type { AgentCard } from '../core/types.js';
import type { AgentOutcome } from '../protocol/messages.js';
import {
  agentCardFromConfig,
  BUILT_IN_AGENTS,
  missingEnvHint,
  renderCommand,
  renderTask,
  type TaskContext,
} from './agents.js';
import { decideTaskEnd, type FinishReport } from './outcome.js';

const card = (name: string): AgentCard => BUILT_IN_AGENTS.find((c) => c.name === name)!;
const ctx: TaskContext = {
  sessionEnv: {},
  credentialsEnv: {},
  credentialNames: ['ANTHROPIC_API_KEY', 'OPENAI_API_KEY', 'GEMINI_API_KEY'],
  sessionTimeoutMs: null,
  profileTimeoutMs: null,
  defaultTimeoutMs: 3_600_000,
  conversationId: null,
};

describe('rendering a built-in card', () => {
  it.each(['claude', 'codex', 'opencode', 'shell'])('%s: the prompt follows -- and is one argument', (name) => {
    const argv = renderCommand(card(name), '--version; rm -rf x');
    expect(argv[argv.length - 1]).toBe('--version; rm -rf x');
    expect(argv[argv.length - 2]).toBe('--');
  });

  it('shell runs bash -c (no login shell); a card with login_shell runs its argv in one, unchanged', () => {
    expect(renderCommand(card('shell'), 'echo hi')).toEqual(['bash', '-c', '--', 'echo hi']);
    const login = agentCardFromConfig('login', {
      description: '',
      command: ['tool', '--', '{{prompt}}'],
      env: {},
      required_env: [],
      runtimes: [{ kind: 'native' }],
      requires: [],
      kits: [],
      login_shell: true,
    });
    expect(login.loginShell).toBe(true);
    expect(renderCommand(login, "--x 'y'")).toEqual(['bash', '-lc', 'exec "$@"', 'bash', 'tool', '--', "--x 'y'"]);
    expect(renderCommand(card('claude'), 'p')[0]).toBe('claude');
  });

  it('gemini: the prompt is inside --prompt=, so it is never an option of its own', () => {
    const argv = renderCommand(card('gemini'), '--model=x');
    expect(argv[argv.length - 1]).toBe('--prompt=--model=x');
  });

  it('a follow-up task resumes the conversation; the first task has no resume arguments', () => {
    expect(renderCommand(card('claude'), 'p', null)).not.toContain('--resume');
    const claude = renderCommand(card('claude'), 'p', 'abc');
    expect(claude.slice(claude.indexOf('--resume'), claude.indexOf('--resume') + 2)).toEqual(['--resume', 'abc']);
    expect(renderCommand(card('codex'), 'p', 't1').slice(0, 4)).toEqual(['codex', 'exec', 'resume', 't1']);
    expect(renderCommand(card('opencode'), 'p', 's1')).toContain('--session');
    expect(renderCommand(card('gemini'), 'p', 'g1')).toContain('--resume');
  });

  it('claude bypasses permission prompts, and says it is sandboxed (it refuses as root otherwise)', () => {
    const r = renderTask(card('claude'), 'p', { ...ctx, credentialsEnv: { ANTHROPIC_API_KEY: 'k' } });
    expect(r.command).toEqual(
      expect.arrayContaining(['--permission-mode', 'bypassPermissions', '--output-format', 'stream-json']),
    );
    expect(r.env).toMatchObject({ IS_SANDBOX: '1', ANTHROPIC_API_KEY: 'k', DISABLE_TELEMETRY: '1' });
    expect(r.outcome).toBe('claude');
    expect(r.missing).toEqual([]);
  });

  it('codex runs with approvals and its own sandbox off, JSON events', () => {
    expect(renderCommand(card('codex'), 'p')).toEqual(
      expect.arrayContaining(['--json', '--dangerously-bypass-approvals-and-sandbox']),
    );
  });
});

describe('timeouts and keys', () => {
  it('session, then profile, then card, then the server default', () => {
    const c = { ...card('shell'), taskTimeoutMs: 3000 };
    expect(renderTask(c, 'p', ctx).timeoutMs).toBe(3000);
    expect(renderTask(card('shell'), 'p', ctx).timeoutMs).toBe(3_600_000);
    expect(renderTask(c, 'p', { ...ctx, profileTimeoutMs: 2000 }).timeoutMs).toBe(2000);
    expect(renderTask(c, 'p', { ...ctx, profileTimeoutMs: 2000, sessionTimeoutMs: 1000 }).timeoutMs).toBe(1000);
  });

  it('a missing key names exactly how to provide it, for any name', () => {
    expect(missingEnvHint(card('gemini'), 'GEMINI_API_KEY', ctx.credentialNames)).toContain(
      "set GEMINI_API_KEY in the server's environment",
    );
    const mine = agentCardFromConfig('aider', {
      description: '',
      command: ['aider', '--message', '{{prompt}}'],
      env: {},
      required_env: ['DEEPSEEK_API_KEY'],
      runtimes: [{ kind: 'native' }],
      requires: [],
      kits: [],
    });
    const hint = renderTask(mine, 'p', ctx).missing[0]!.hint;
    expect(hint).toContain('MARIONETTE_PASSTHROUGH_ENV=DEEPSEEK_API_KEY');
    expect(hint).toContain('--env DEEPSEEK_API_KEY=');
  });

  it('rejects cards that would lose the prompt or misuse resume', () => {
    const base = { description: '', env: {}, required_env: [], runtimes: [{ kind: 'native' }], requires: [], kits: [] };
    expect(() => agentCardFromConfig('x', { ...base, command: ['x'] })).toThrow(/never uses \{\{prompt\}\}/);
    expect(() => agentCardFromConfig('x', { ...base, command: ['x', '{{prompt}}'], resume: ['-r'] })).toThrow(
      /\{\{resume\}\}/,
    );
    expect(() => agentCardFromConfig('x', { ...base, command: ['x', '{{prompt}}'], outcome: 'nope' })).toThrow(
      /outcome/,
    );
  });
});

describe("a task's end state", () => {
  const outcome = (o: Partial<AgentOutcome>): AgentOutcome => ({
    status: 'succeeded',
    error: null,
    conversationId: null,
    permissionDenials: [],
    usage: null,
    costUsd: null,
    model: null,
    summary: null,
    ...o,
  });
  const report = (r: Partial<FinishReport>): FinishReport => ({
    exitCode: 0,
    signal: null,
    error: null,
    cancelled: false,
    timedOut: false,
    outcome: null,
    ...r,
  });

  it('the exit code alone for cards without an outcome reader', () => {
    expect(decideTaskEnd(report({}), false).state).toBe('succeeded');
    expect(decideTaskEnd(report({ exitCode: 2 }), false)).toEqual({ state: 'failed', error: 'exit code 2' });
  });

  it("the agent's failure, with its own message, even on exit 0", () => {
    expect(decideTaskEnd(report({ outcome: outcome({ status: 'failed', error: 'Invalid API key' }) }), false)).toEqual({
      state: 'failed',
      error: 'Invalid API key',
    });
  });

  it('permission denials fail a task the agent called a success', () => {
    const end = decideTaskEnd(
      report({ outcome: outcome({ permissionDenials: [{ tool: 'Write', detail: 'hello.txt', id: 't' }] }) }),
      false,
    );
    expect(end.state).toBe('failed');
    expect(end.error).toContain('denied permission: Write (hello.txt)');
  });

  it('no result reported is a failure, not a success', () => {
    expect(decideTaskEnd(report({ outcome: outcome({ status: 'unknown' }) }), false).state).toBe('failed');
  });

  it('timed out, with the agent’s last message; cancel wins', () => {
    const end = decideTaskEnd(
      report({
        timedOut: true,
        error: 'timed out after 20s',
        outcome: outcome({ status: 'unknown', error: 'waiting for network' }),
      }),
      false,
    );
    expect(end).toEqual({
      state: 'timed_out',
      error: "timed out after 20s and killed; the agent's last message: waiting for network",
    });
    expect(decideTaskEnd(report({ timedOut: true }), true).state).toBe('cancelled');
  });
});
