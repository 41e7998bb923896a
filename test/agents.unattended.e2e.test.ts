/**
 * The built-in `claude`, `codex` and `gemini` cards, end to end with the real CLIs (installed from npm into
 * test/agents by `.ci/run`) against loopback stand-ins of the Anthropic Messages, OpenAI
 * Responses and Gemini APIs (test/agents/standins.ts): the agent edits files and runs commands unattended,
 * the task's outcome and error are the agent's own, a prompt is never read as an option, a
 * follow-up task resumes the conversation, a permission denial fails the task, and an API that
 * never answers is stopped by the task timeout. Nothing here leaves the machine: every base URL
 * is a loopback stand-in (or a closed loopback port), and the cards turn off telemetry and
 * update checks.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTerminalTask } from '../src/core/states.js';
import type { TaskState } from '../src/core/types.js';
import {
  SCRIPT_FINAL,
  type StandIn,
  startAnthropicStandIn,
  startGeminiStandIn,
  startOpenAIStandIn,
} from './agents/standins.js';
import { ROOT, type ServerHandle, startServer, until } from './harness.js';

const BIN = join(ROOT, 'test', 'agents', 'node_modules', '.bin');
const installed = ['claude', 'codex', 'gemini'].every((b) => existsSync(join(BIN, b)));
if (!installed && process.env.CI)
  throw new Error('the agent CLIs are not installed: run `npm ci --prefix test/agents`');

interface Outcome {
  status: string;
  error: string | null;
  conversationId: string | null;
  permissionDenials: { tool: string; detail: string }[];
  usage: { inputTokens: number; outputTokens: number } | null;
  costUsd: number | null;
}
interface TaskView {
  id: string;
  state: string;
  error: string | null;
  exitCode: number | null;
  startedAt: number | null;
  finishedAt: number | null;
  createdAt: number;
  outcome: Outcome | null;
}
interface SessionView {
  id: string;
  tasks: TaskView[];
}

/** A loopback port with nothing listening (an unreachable API). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

let srv: ServerHandle;
let anthropic: StandIn;
let openai: StandIn;
let gemini: StandIn;

beforeAll(async () => {
  if (!installed) return;
  anthropic = await startAnthropicStandIn();
  openai = await startOpenAIStandIn();
  gemini = await startGeminiStandIn();
  srv = await startServer({ env: { PATH: `${BIN}:${process.env.PATH ?? ''}` } });
});
afterAll(async () => {
  await srv?.destroy();
  await anthropic?.close();
  await openai?.close();
  await gemini?.close();
});

async function createSession(agent: string, prompt: string, env: Record<string, string>, extra: object = {}) {
  const r = await srv.api<SessionView>('POST', '/v1/sessions', { agent, prompt, env, ...extra });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
}

/** Ends a test's session so its runner goes back (the local pool's runners are bounded). */
async function release(sessionId: string): Promise<void> {
  await srv.api('POST', `/v1/sessions/${sessionId}/cancel`);
}

async function addTask(sessionId: string, prompt: string): Promise<TaskView> {
  const r = await srv.api<TaskView>('POST', `/v1/sessions/${sessionId}/tasks`, { prompt });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
}

async function finished(taskId: string, timeoutMs = 90_000): Promise<TaskView> {
  return until(
    async () => {
      const t = (await srv.api<TaskView>('GET', `/v1/tasks/${taskId}`)).body;
      return isTerminalTask(t.state as TaskState) ? t : null;
    },
    `task ${taskId} to finish`,
    timeoutMs,
  );
}

const workspace = (sessionId: string) => join(srv.home, 'workspaces', sessionId);
const elapsed = (t: TaskView) => (t.finishedAt ?? 0) - (t.startedAt ?? t.createdAt);

const AGENTS = [
  {
    agent: 'claude',
    standIn: () => anthropic,
    env: (url: string, key = 'sk-test') => ({ ANTHROPIC_API_KEY: key, ANTHROPIC_BASE_URL: url }),
    keyError: /Invalid API key/,
    fresh: startAnthropicStandIn,
  },
  {
    agent: 'codex',
    standIn: () => openai,
    env: (url: string, key = 'sk-test') => ({ OPENAI_API_KEY: key, OPENAI_BASE_URL: `${url}/v1` }),
    keyError: /Incorrect API key|401/,
    fresh: startOpenAIStandIn,
  },
  {
    agent: 'gemini',
    standIn: () => gemini,
    env: (url: string, key = 'sk-test') => ({ GEMINI_API_KEY: key, GOOGLE_GEMINI_BASE_URL: url }),
    keyError: /API key not valid/,
    fresh: startGeminiStandIn,
  },
] as const;

describe.skipIf(!installed)('built-in agent cards with the real CLIs', { timeout: 120_000 }, () => {
  for (const a of AGENTS) {
    describe(a.agent, () => {
      it('writes a file and runs a command unattended; a follow-up task resumes the conversation', async () => {
        const s = await createSession(a.agent, 'write hello.txt, then run the command', a.env(a.standIn().url));
        const t1 = await finished(s.tasks[0]!.id);
        expect(t1.state, t1.error ?? '').toBe('succeeded');
        expect(readFileSync(join(workspace(s.id), 'hello.txt'), 'utf8')).toBe('hello\n');
        expect(existsSync(join(workspace(s.id), 'ran.txt'))).toBe(true);
        expect(t1.outcome?.status).toBe('succeeded');
        expect(t1.outcome?.conversationId).toBeTruthy();
        expect(t1.outcome?.usage?.inputTokens).toBeGreaterThan(0);

        // The second task continues the same conversation: same id, and the model is sent the first prompt again.
        const before = a.standIn().requests.length;
        const t2 = await finished((await addTask(s.id, 'second prompt')).id);
        await release(s.id);
        expect(t2.state, t2.error ?? '').toBe('succeeded');
        expect(t2.outcome?.conversationId).toBe(t1.outcome?.conversationId);
        const later = a
          .standIn()
          .requests.slice(before)
          .map((r) => JSON.stringify(r.body));
        expect(
          later.some((b) => b.includes('second prompt') && b.includes('write hello.txt, then run the command')),
        ).toBe(true);

        // The readable log shows the tool calls and the final summary; -o json keeps the raw events.
        const logs = await srv.mctl(['tasks', 'logs', t1.id]);
        expect(logs.stdout).toContain('→ ');
        expect(logs.stdout).toContain(SCRIPT_FINAL);
        const raw = await srv.mctl(['-o', 'json', 'tasks', 'logs', t1.id]);
        expect(raw.stdout.split('\n').some((l) => l.startsWith('{"type":'))).toBe(true);

        // Tokens reach the cost ledger.
        const costs = await srv.api<{ items: { billingModel: string; sessionId: string; inputTokens: number }[] }>(
          'GET',
          `/v1/costs?session=${s.id}`,
        );
        const agentCosts = costs.body.items.filter((c) => c.billingModel === 'agent-reported');
        expect(agentCosts.length).toBe(2);
        expect(agentCosts[0]!.inputTokens).toBeGreaterThan(0);
      });

      it('passes a prompt that looks like an option to the model as text', async () => {
        const before = a.standIn().requests.length;
        const s = await createSession(a.agent, '--version', a.env(a.standIn().url));
        const t = await finished(s.tasks[0]!.id);
        await release(s.id);
        expect(t.state, t.error ?? '').toBe('succeeded');
        const texts = a
          .standIn()
          .requests.slice(before)
          .flatMap((r) => JSON.stringify(r.body ?? {}));
        expect(texts.some((b) => b.includes('"--version"') || b.includes('\\n\\n--version'))).toBe(true);
      });

      it("fails a task the API refuses (401) within 30 s, with the agent's own message", async () => {
        const bad = await a.fresh();
        bad.mode = 'unauthorized';
        try {
          const s = await createSession(a.agent, 'hi', a.env(bad.url, 'sk-bad'));
          const t = await finished(s.tasks[0]!.id);
          await release(s.id);
          expect(t.state).toBe('failed');
          expect(t.error).toMatch(a.keyError);
          expect(elapsed(t)).toBeLessThan(30_000);
        } finally {
          await bad.close();
        }
      });
    });
  }

  it('claude: an unreachable API fails the task with the agent’s connection error', async () => {
    const port = await closedPort();
    const s = await createSession('claude', 'hi', {
      ANTHROPIC_API_KEY: 'sk-test',
      ANTHROPIC_BASE_URL: `http://127.0.0.1:${port}`,
    });
    const t = await finished(s.tasks[0]!.id);
    await release(s.id);
    expect(t.state).toBe('failed');
    expect(t.error).toMatch(/connect|ECONNREFUSED/i);
    expect(elapsed(t)).toBeLessThan(60_000);
  });

  it('codex: an API that never answers is stopped by the session task timeout (timed_out)', async () => {
    const port = await closedPort();
    const s = await createSession(
      'codex',
      'hi',
      { OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: `http://127.0.0.1:${port}/v1` },
      { taskTimeoutMs: 20_000 },
    );
    const t = await finished(s.tasks[0]!.id);
    await release(s.id);
    expect(t.state).toBe('timed_out');
    expect(t.error).toMatch(/timed out after 20s/);
    expect(elapsed(t)).toBeLessThan(60_000);
  });

  it('a card in the default permission mode fails the task with the denials recorded', async () => {
    const claude = (await srv.api<{ command: string[]; env: Record<string, string> }>('GET', '/v1/agents/claude')).body;
    const command = claude.command.filter(
      (p, i, all) => p !== '--permission-mode' && all[i - 1] !== '--permission-mode',
    );
    const made = await srv.api('POST', '/v1/agents', {
      name: 'claude-asks',
      command,
      env: claude.env,
      requiredEnv: ['ANTHROPIC_API_KEY'],
      outcome: 'claude',
    });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    const s = await createSession('claude-asks', 'write hello.txt', {
      ANTHROPIC_API_KEY: 'sk-test',
      ANTHROPIC_BASE_URL: anthropic.url,
    });
    const t = await finished(s.tasks[0]!.id);
    await release(s.id);
    expect(t.state, JSON.stringify(t)).toBe('failed');
    expect(t.error).toMatch(/denied permission: Write/);
    expect(t.outcome?.permissionDenials.map((d) => d.tool)).toContain('Write');
    expect(existsSync(join(workspace(s.id), 'hello.txt'))).toBe(false);
  });
});
