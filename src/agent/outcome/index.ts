/**
 * @module Reading an agent's own outcome from its stdout (one JSON event per line), by the card's
 * `outcome` kind, and rendering those events for people (`mctl sessions logs`). The runner feeds
 * every stdout line of the task to the reader and sends `outcome()` with `task.finished`; the
 * server decides the task's state from it (see src/server/outcome.ts).
 */
import type { OutcomeKind } from '../../core/types.js';
import { claudeReader, renderClaude } from './claude.js';
import { codexReader, renderCodex } from './codex.js';
import { geminiReader, renderGemini } from './gemini.js';
import { opencodeReader, renderOpencode } from './opencode.js';
import { type OutcomeReader, parseEvent } from './types.js';

export type { AgentOutcome, OutcomeReader } from './types.js';

/** The reader for an outcome kind; `exit` (or none) reads nothing. */
export function outcomeReader(kind: OutcomeKind | undefined): OutcomeReader | null {
  switch (kind) {
    case 'claude':
      return claudeReader();
    case 'codex':
      return codexReader();
    case 'gemini':
      return geminiReader();
    case 'opencode':
      return opencodeReader();
    case 'exit':
    case undefined:
      return null;
  }
}

const RENDERERS = [renderClaude, renderOpencode, renderCodex, renderGemini];

/**
 * A log line as people read it: an agent's JSON event becomes its text, tool call or summary
 * (zero or more lines); anything else is returned as is.
 */
export function renderLogLine(line: string): string[] {
  const e = parseEvent(line);
  if (!e) return [line];
  for (const r of RENDERERS) {
    const out = r(e);
    if (out) return out.flatMap((l) => l.split('\n'));
  }
  return [line];
}
