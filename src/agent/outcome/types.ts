/**
 * @module The shape every agent's event reader fills in: what the agent itself reported about a
 * task (success or its own error message, permission denials, its conversation id, tokens and
 * cost), and the helpers the per-agent readers share.
 */
import type { AgentOutcome } from '../../protocol/messages.js';

export type { AgentOutcome };

/** Reads one agent's stdout, one line (one JSON event) at a time. */
export interface OutcomeReader {
  line(text: string): void;
  /** What the agent reported; `status: 'unknown'` when it never reported a result. */
  outcome(): AgentOutcome;
}

/** Bounds on what an outcome carries (it travels in one protocol frame and one row). */
export const MAX_TEXT = 4096;
export const MAX_DENIALS = 20;

export function emptyOutcome(): AgentOutcome {
  return {
    status: 'unknown',
    error: null,
    conversationId: null,
    permissionDenials: [],
    usage: null,
    costUsd: null,
    model: null,
    summary: null,
  };
}

/** Cuts text to `max` characters (marking the cut). */
export function clip(text: string, max = MAX_TEXT): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Parses a JSON object line; anything else is null (agents also print plain text). */
export function parseEvent(text: string): Record<string, unknown> | null {
  const t = text.trim();
  if (!t.startsWith('{')) return null;
  try {
    const v: unknown = JSON.parse(t);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

export function str(v: unknown): string | null {
  return typeof v === 'string' && v.length ? v : null;
}

export function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

export function obj(v: unknown): Record<string, unknown> {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/** A one-line, bounded rendering of a tool's input for denials and logs. */
export function brief(v: unknown, max = 300): string {
  if (typeof v === 'string') return clip(v.replace(/\s+/g, ' '), max);
  let s: string;
  try {
    s = JSON.stringify(v) ?? '';
  } catch {
    s = String(v);
  }
  return clip(s, max);
}

export function addDenial(o: AgentOutcome, tool: string, detail: string, id?: string | null): void {
  if (id && o.permissionDenials.some((d) => d.id === id)) return;
  if (o.permissionDenials.length >= MAX_DENIALS) return;
  o.permissionDenials.push({ tool: clip(tool, 200), detail: clip(detail, 500), id: id ?? null });
}
