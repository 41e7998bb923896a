/**
 * @module Codex's `exec --json` events (JSONL): the outcome reader (`thread.started`'s thread id,
 * `turn.completed` with its usage, `turn.failed` and `error` messages) and a readable rendering.
 */
import {
  type AgentOutcome,
  brief,
  clip,
  emptyOutcome,
  num,
  type OutcomeReader,
  obj,
  parseEvent,
  str,
} from './types.js';

export function codexReader(): OutcomeReader {
  const o: AgentOutcome = emptyOutcome();
  let lastError: string | null = null;
  return {
    line(text) {
      const e = parseEvent(text);
      if (!e) return;
      switch (e.type) {
        case 'thread.started':
          o.conversationId = str(e.thread_id) ?? o.conversationId;
          return;
        case 'turn.completed': {
          o.status = 'succeeded';
          o.error = null;
          const u = obj(e.usage);
          o.usage = {
            inputTokens: num(u.input_tokens),
            outputTokens: num(u.output_tokens),
            cacheReadTokens: num(u.cached_input_tokens),
            cacheWriteTokens: num(u.cache_write_input_tokens),
          };
          return;
        }
        case 'turn.failed':
          o.status = 'failed';
          o.error = clip(str(obj(e.error).message) ?? lastError ?? 'codex reported a failed turn');
          return;
        case 'error':
          lastError = str(e.message) ?? lastError;
          return;
        case 'item.completed': {
          const item = obj(e.item);
          if (item.type === 'agent_message') o.summary = clip(str(item.text) ?? '');
          return;
        }
      }
    },
    outcome() {
      if (o.status === 'unknown' && lastError) return { ...o, error: clip(lastError) };
      return { ...o };
    },
  };
}

export function renderCodex(e: Record<string, unknown>): string[] | null {
  if (typeof e.type !== 'string') return null;
  switch (e.type) {
    case 'thread.started':
      return [`· codex thread ${str(e.thread_id) ?? ''}`];
    case 'turn.started':
      return [];
    case 'turn.completed': {
      const u = obj(e.usage);
      return [`✓ done (${num(u.input_tokens)} in, ${num(u.output_tokens)} out tokens)`];
    }
    case 'turn.failed':
      return [`✗ failed: ${str(obj(e.error).message) ?? ''}`];
    case 'error':
      return [`· ${str(e.message) ?? ''}`];
    case 'item.started':
    case 'item.updated':
    case 'item.completed': {
      const item = obj(e.item);
      const done = e.type === 'item.completed';
      switch (item.type) {
        case 'agent_message':
          return done ? [str(item.text) ?? ''] : [];
        case 'reasoning':
          return done ? [`· ${brief(item.text, 300)}`] : [];
        case 'command_execution':
          return done
            ? [
                `→ ${str(item.command) ?? ''}`,
                `${num(item.exit_code) === 0 ? '←' : '✗'} exit ${String(item.exit_code)} ${brief(item.aggregated_output, 500)}`,
              ]
            : [];
        case 'file_change': {
          const changes = Array.isArray(item.changes)
            ? item.changes.map((c) => `${str(obj(c).kind) ?? ''} ${str(obj(c).path) ?? ''}`)
            : [];
          return done ? [`→ edit ${changes.join(', ')}`] : [];
        }
        case 'mcp_tool_call':
          return done ? [`→ ${str(item.server) ?? ''}.${str(item.tool) ?? ''} ${brief(item.arguments)}`] : [];
        case 'error':
          return done ? [`· ${str(item.message) ?? ''}`] : [];
        default:
          return [];
      }
    }
    default:
      return e.type.includes('.') ? [] : null;
  }
}
