/**
 * @module opencode's `run --format json` events: the outcome reader (the events' `sessionID`,
 * `step_finish` tokens and cost, `error` events) and a readable rendering.
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

export function opencodeReader(): OutcomeReader {
  const o: AgentOutcome = emptyOutcome();
  let steps = 0;
  return {
    line(line) {
      const e = parseEvent(line);
      if (!e) return;
      o.conversationId = str(e.sessionID) ?? o.conversationId;
      const part = obj(e.part);
      if (e.type === 'text') {
        o.summary = clip(str(part.text) ?? '') || o.summary;
      } else if (e.type === 'step_finish') {
        steps++;
        const t = obj(part.tokens);
        const cache = obj(t.cache);
        const u = o.usage ?? { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 };
        o.usage = {
          inputTokens: u.inputTokens + num(t.input),
          outputTokens: u.outputTokens + num(t.output),
          cacheReadTokens: u.cacheReadTokens + num(cache.read),
          cacheWriteTokens: u.cacheWriteTokens + num(cache.write),
        };
        o.costUsd = (o.costUsd ?? 0) + num(part.cost);
        if (o.status !== 'failed') o.status = 'succeeded';
      } else if (e.type === 'error') {
        const err = obj(e.error);
        o.status = 'failed';
        o.error = clip(str(obj(err.data).message) ?? str(err.message) ?? str(err.name) ?? 'opencode reported an error');
      }
    },
    outcome() {
      return steps || o.status === 'failed' ? { ...o } : { ...o, status: 'unknown' };
    },
  };
}

export function renderOpencode(e: Record<string, unknown>): string[] | null {
  if (!('part' in e) && !('sessionID' in e)) return null;
  const part = obj(e.part);
  switch (e.type) {
    case 'text':
      return [str(part.text) ?? ''];
    case 'tool_use': {
      const state = obj(part.state);
      return [
        `→ ${str(part.tool) ?? 'tool'} ${brief(state.input)}`,
        `${state.status === 'error' ? '✗' : '←'} ${brief(state.output ?? state.error, 500)}`,
      ];
    }
    case 'step_start':
      return [];
    case 'step_finish':
      return [`· step done (${num(obj(part.tokens).input)} in, ${num(obj(part.tokens).output)} out tokens)`];
    case 'error': {
      const err = obj(e.error);
      return [`✗ ${str(obj(err.data).message) ?? str(err.name) ?? 'error'}`];
    }
    default:
      return null;
  }
}
