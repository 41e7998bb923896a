/**
 * @module Gemini CLI's `--output-format stream-json` events: the outcome reader (`init`'s
 * session id, `result` with its status, error and stats) and a readable rendering.
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

export function geminiReader(): OutcomeReader {
  const o: AgentOutcome = emptyOutcome();
  let lastError: string | null = null;
  let text = '';
  return {
    line(line) {
      const e = parseEvent(line);
      if (!e) return;
      if (e.type === 'init') {
        o.conversationId = str(e.session_id) ?? o.conversationId;
        o.model = str(e.model) ?? o.model;
      } else if (e.type === 'message' && e.role === 'assistant') {
        text = e.delta === true ? text + (str(e.content) ?? '') : (str(e.content) ?? '');
      } else if (e.type === 'error') {
        lastError = str(e.message) ?? str(obj(e.error).message) ?? lastError;
      } else if (e.type === 'result') {
        const ok = e.status === 'success';
        o.status = ok ? 'succeeded' : 'failed';
        o.error = ok ? null : clip(str(obj(e.error).message) ?? lastError ?? 'gemini reported an error');
        if (text) o.summary = clip(text);
        const s = obj(e.stats);
        o.usage = {
          inputTokens: num(s.input_tokens ?? s.input),
          outputTokens: num(s.output_tokens),
          cacheReadTokens: num(s.cached),
          cacheWriteTokens: 0,
        };
      }
    },
    outcome() {
      if (o.status === 'unknown' && lastError) return { ...o, error: clip(lastError) };
      return { ...o };
    },
  };
}

export function renderGemini(e: Record<string, unknown>): string[] | null {
  switch (e.type) {
    case 'init':
      return [`· gemini ${str(e.model) ?? ''} session ${str(e.session_id) ?? ''}`];
    case 'message':
      return e.role === 'assistant' ? [str(e.content) ?? ''] : [];
    case 'tool_use':
      return [`→ ${str(e.tool_name) ?? 'tool'} ${brief(e.parameters)}`];
    case 'tool_result':
      return [`${e.status === 'error' ? '✗' : '←'} ${brief(e.output ?? obj(e.error).message, 500)}`];
    case 'error':
      return [`· ${str(e.message) ?? ''}`];
    case 'result':
      return [e.status === 'success' ? '✓ done' : `✗ failed: ${str(obj(e.error).message) ?? ''}`];
    default:
      return null;
  }
}
