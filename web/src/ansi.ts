/**
 * @module ANSI SGR colour codes in log lines turned into styled spans (foreground and background of
 * the 16 colours, 256 and true colour, bold, dim, italic, underline, reset); every other escape
 * sequence is dropped. The state carries over from one line to the next, as in a terminal.
 */

export interface AnsiStyle {
  fg?: string;
  bg?: string;
  bold?: boolean;
  dim?: boolean;
  italic?: boolean;
  underline?: boolean;
}

export interface AnsiSpan {
  text: string;
  style: AnsiStyle;
}

/** The 16 colours as CSS variables (the theme picks them, readable on dark and on light). */
const BASIC = ['black', 'red', 'green', 'yellow', 'blue', 'magenta', 'cyan', 'white'];
const basic = (i: number, bright: boolean) => `var(--ansi-${bright ? 'bright-' : ''}${BASIC[i]})`;

function color256(n: number): string {
  if (n < 8) return basic(n, false);
  if (n < 16) return basic(n - 8, true);
  if (n < 232) {
    const c = n - 16;
    const v = (x: number) => (x === 0 ? 0 : 55 + x * 40);
    return `rgb(${v(Math.floor(c / 36))},${v(Math.floor(c / 6) % 6)},${v(c % 6)})`;
  }
  const g = 8 + (n - 232) * 10;
  return `rgb(${g},${g},${g})`;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes start with ESC
const ESCAPE = /\u001b\[([0-9;]*)([A-Za-z])|\u001b[@-Z\\-_]/g;

/** Splits `line` into spans; `state` is the style in force before it and is updated in place. */
export function parseAnsi(line: string, state: AnsiStyle = {}): AnsiSpan[] {
  const spans: AnsiSpan[] = [];
  let last = 0;
  const push = (text: string) => {
    if (text) spans.push({ text, style: { ...state } });
  };
  for (const m of line.matchAll(ESCAPE)) {
    push(line.slice(last, m.index));
    last = (m.index ?? 0) + m[0].length;
    if (m[2] !== 'm') continue;
    const codes = (m[1] ?? '').split(';').map((c) => (c === '' ? 0 : Number(c)));
    for (let i = 0; i < codes.length; i++) {
      const c = codes[i]!;
      if (c === 0) for (const k of Object.keys(state)) delete state[k as keyof AnsiStyle];
      else if (c === 1) state.bold = true;
      else if (c === 2) state.dim = true;
      else if (c === 3) state.italic = true;
      else if (c === 4) state.underline = true;
      else if (c === 22) {
        delete state.bold;
        delete state.dim;
      } else if (c === 23) delete state.italic;
      else if (c === 24) delete state.underline;
      else if (c >= 30 && c <= 37) state.fg = basic(c - 30, false);
      else if (c === 39) delete state.fg;
      else if (c >= 40 && c <= 47) state.bg = basic(c - 40, false);
      else if (c === 49) delete state.bg;
      else if (c >= 90 && c <= 97) state.fg = basic(c - 90, true);
      else if (c >= 100 && c <= 107) state.bg = basic(c - 100, true);
      else if (c === 38 || c === 48) {
        const key = c === 38 ? 'fg' : 'bg';
        if (codes[i + 1] === 5 && codes[i + 2] !== undefined) {
          state[key] = color256(codes[i + 2]!);
          i += 2;
        } else if (codes[i + 1] === 2 && codes[i + 4] !== undefined) {
          state[key] = `rgb(${codes[i + 2]},${codes[i + 3]},${codes[i + 4]})`;
          i += 4;
        }
      }
    }
  }
  push(line.slice(last));
  return spans;
}
