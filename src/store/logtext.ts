/**
 * @module How a log line is kept in the `task_logs.line` column. A line is any JavaScript string:
 * it may hold NUL (PostgreSQL's `text` refuses it; one NUL used to reject a whole batch) and lone
 * UTF-16 surrogates (the agent carries bytes that were not valid UTF-8 as U+DC80–U+DCFF, see
 * `src/agent/utf8.ts`; both drivers would turn them into U+FFFD). Those code units are stored as
 * DLE (U+0010) followed by four hex digits of the code unit, and DLE itself is escaped the same
 * way, so every line round-trips exactly on SQLite and PostgreSQL. Lines without these characters
 * (nearly all) are stored as they are.
 */

const DLE = '\u0010';
// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL and DLE are exactly what is escaped here
const NEEDS_ESCAPE = /[\u0000\u0010]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: DLE introduces an escape
const ESCAPED = /\u0010([0-9a-f]{4})/g;

/** The stored form of a line. */
export function escapeLine(line: string): string {
  return line.replace(NEEDS_ESCAPE, (c) => DLE + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

/** The line a stored form stands for (the inverse of `escapeLine`). */
export function unescapeLine(stored: string): string {
  if (!stored.includes(DLE)) return stored;
  return stored.replace(ESCAPED, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}
