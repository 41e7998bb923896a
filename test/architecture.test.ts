/**
 * The code's shape, checked on every `npm test`:
 * - `src/core/` is pure: it imports nothing outside `src/core/` (relative imports; packages are
 *   not checked here);
 * - no import cycle among the files under `src/` (every relative import counts, `import type`
 *   included); a cycle is reported as the chain of files;
 * - no file under `src/` is longer than 600 lines.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MAX_LINES = 600;

/** Files outside `src/core/` that `src/core/` may import: none. */
const CORE_MAY_IMPORT: readonly string[] = [];

/** Files allowed over the limit: none. */
const BEING_SPLIT: readonly string[] = [];

/** Every `.ts` file under `src/`, as a path relative to the repository root. */
function sourceFiles(dir = join(ROOT, 'src')): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(relative(ROOT, p));
  }
  return out.sort();
}

/** Module specifiers of static imports, re-exports and dynamic `import('…')` with a literal. */
const IMPORT =
  /(?:^|[\s;])(?:import|export)\s[^'";]*?\sfrom\s*['"]([^'"]+)['"]|(?:^|[\s;])import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm;

/** The files `file` imports by relative path, resolved to `.ts` paths relative to the root. */
function relativeImports(file: string, text: string): string[] {
  const out: string[] = [];
  // Comments may quote imports (module headers, examples): leave them out.
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
  for (const m of code.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (!spec?.startsWith('.')) continue;
    const target = relative(ROOT, resolve(ROOT, dirname(file), spec)).replace(/\.js$/, '.ts');
    out.push(target.endsWith('.ts') ? target : `${target}.ts`);
  }
  return out;
}

/** Each cycle once, as a chain of files starting and ending with the same file. */
function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const cycles: string[][] = [];
  const seen = new Set<string>();
  const key = (c: string[]) => {
    const ring = c.slice(0, -1);
    const i = ring.indexOf([...ring].sort()[0] as string);
    return [...ring.slice(i), ...ring.slice(0, i)].join(' → ');
  };
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string) => {
    state.set(n, 'open');
    stack.push(n);
    for (const m of graph.get(n) ?? []) {
      if (!graph.has(m)) continue;
      const s = state.get(m);
      if (s === 'open') {
        const cycle = [...stack.slice(stack.indexOf(m)), m];
        const k = key(cycle);
        if (!seen.has(k)) {
          seen.add(k);
          cycles.push(cycle);
        }
      } else if (s === undefined) visit(m);
    }
    stack.pop();
    state.set(n, 'done');
  };
  for (const n of [...graph.keys()].sort()) if (!state.has(n)) visit(n);
  return cycles;
}

const files = sourceFiles();
const texts = new Map(files.map((f) => [f, readFileSync(join(ROOT, f), 'utf8')]));
const graph = new Map(files.map((f) => [f, relativeImports(f, texts.get(f) as string)]));

describe('architecture', () => {
  it('finds the source files and their imports', () => {
    expect(files.length).toBeGreaterThan(50);
    expect(graph.get('src/server/sessions.ts')).toContain('src/server/assigner.ts');
  });

  it('src/core imports nothing outside src/core', () => {
    const outside: string[] = [];
    for (const [f, deps] of graph)
      if (f.startsWith('src/core/'))
        for (const d of deps)
          if (!d.startsWith('src/core/') && !CORE_MAY_IMPORT.includes(d)) outside.push(`${f} imports ${d}`);
    expect(outside).toEqual([]);
  });

  it('has no import cycle among the files under src/', () => {
    expect(findCycles(graph).map((c) => c.join(' → '))).toEqual([]);
  });

  it(`has no file under src/ longer than ${MAX_LINES} lines`, () => {
    const long: string[] = [];
    for (const [f, text] of texts) {
      const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
      if (lines > MAX_LINES && !BEING_SPLIT.includes(f)) long.push(`${f}: ${lines} lines`);
    }
    expect(long).toEqual([]);
  });

  it('the checks find what they look for', () => {
    const g = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts', 'd.ts']],
      ['d.ts', []],
    ]);
    expect(findCycles(g)).toEqual([['a.ts', 'b.ts', 'c.ts', 'a.ts']]);
    expect(
      relativeImports(
        'src/x/y.ts',
        "import a from './a.js';\nimport type { B } from '../b/index.js';\nexport { c } from './c.js';\nconst d = await import('./d.js');\nimport 'node:fs';\n// import { e } from './e.js';\n",
      ),
    ).toEqual(['src/x/a.ts', 'src/b/index.ts', 'src/x/c.ts', 'src/x/d.ts']);
  });
});
