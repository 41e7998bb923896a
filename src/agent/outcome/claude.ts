/**
 * @module Claude Code's `--output-format stream-json` events: the outcome reader (the `result`
 * event's `is_error`, `result` and `permission_denials`, the init event's `session_id`) and a
 * readable rendering for people (assistant text, tool calls and results, the final summary).
 */
import {
  type AgentOutcome,
  addDenial,
  brief,
  clip,
  emptyOutcome,
  num,
  type OutcomeReader,
  obj,
  parseEvent,
  str,
} from './types.js';

export function claudeReader(): OutcomeReader {
  const o: AgentOutcome = emptyOutcome();
  let apiError: string | null = null;
  return {
    line(text) {
      const e = parseEvent(text);
      if (!e) return;
      const sessionId = str(e.session_id);
      if (e.type === 'system' && e.subtype === 'init') {
        o.conversationId = sessionId ?? o.conversationId;
        o.model = str(e.model) ?? o.model;
      } else if (e.type === 'system' && e.subtype === 'permission_denied') {
        addDenial(o, str(e.tool_name) ?? 'tool', str(e.message) ?? '', str(e.tool_use_id));
      } else if (e.type === 'assistant' && e.is_api_error_message === true) {
        const content = obj(e.message).content;
        const texts = Array.isArray(content) ? content.map((b) => str(obj(b).text)).filter(Boolean) : [];
        apiError = texts.join(' ') || apiError;
      } else if (e.type === 'result') {
        if (sessionId) o.conversationId = sessionId;
        const failed = e.is_error === true || (typeof e.subtype === 'string' && e.subtype.startsWith('error'));
        const result = str(e.result);
        o.status = failed ? 'failed' : 'succeeded';
        o.summary = result ? clip(result) : o.summary;
        if (failed) o.error = clip(result ?? apiError ?? `claude reported ${String(e.subtype ?? 'an error')}`);
        for (const d of Array.isArray(e.permission_denials) ? e.permission_denials : []) {
          const dd = obj(d);
          addDenial(o, str(dd.tool_name) ?? 'tool', brief(dd.tool_input), str(dd.tool_use_id));
        }
        const u = obj(e.usage);
        o.usage = {
          inputTokens: num(u.input_tokens),
          outputTokens: num(u.output_tokens),
          cacheReadTokens: num(u.cache_read_input_tokens),
          cacheWriteTokens: num(u.cache_creation_input_tokens),
        };
        if (typeof e.total_cost_usd === 'number') o.costUsd = e.total_cost_usd;
      }
    },
    outcome() {
      if (o.status === 'unknown' && apiError) return { ...o, error: clip(apiError) };
      return { ...o };
    },
  };
}

function toolResultText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((c) => str(obj(c).text) ?? '').join(' ');
  return '';
}

/** Human lines for one event; `null` when the line is not one of Claude's events. */
export function renderClaude(e: Record<string, unknown>): string[] | null {
  switch (e.type) {
    case 'system':
      if (e.subtype === 'init') return [`· claude ${str(e.model) ?? ''} session ${str(e.session_id) ?? ''}`.trim()];
      if (e.subtype === 'permission_denied') return [`✗ denied ${str(e.tool_name) ?? ''}: ${str(e.message) ?? ''}`];
      if (e.subtype === 'api_retry')
        return [`· API retry ${num(e.attempt)}/${num(e.max_retries)} (${String(e.error_status ?? e.error ?? '')})`];
      return [];
    case 'assistant':
    case 'user': {
      const content = obj(e.message).content;
      const out: string[] = [];
      for (const b of Array.isArray(content) ? content : []) {
        const blk = obj(b);
        if (blk.type === 'text' && e.type === 'assistant') out.push(str(blk.text) ?? '');
        else if (blk.type === 'tool_use') out.push(`→ ${str(blk.name) ?? 'tool'} ${brief(blk.input)}`);
        else if (blk.type === 'tool_result')
          out.push(`${blk.is_error === true ? '✗' : '←'} ${brief(toolResultText(blk.content), 500)}`);
      }
      return out;
    }
    case 'result': {
      if (!('is_error' in e)) return null;
      const cost = typeof e.total_cost_usd === 'number' ? `, $${e.total_cost_usd.toFixed(4)}` : '';
      const head = e.is_error === true ? '✗ failed' : '✓ done';
      return [`${head} (${num(e.num_turns)} turns${cost}): ${str(e.result) ?? ''}`];
    }
    default:
      return null;
  }
}
