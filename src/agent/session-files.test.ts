/**
 * Where `mctl sessions cp` may read and write in a session's workspace: relative paths inside it,
 * absolute ones only when they lie inside it, never outside through `..` or a symlink, and a
 * missing path (or the missing directory of a new one) named as such.
 */
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workspacePath } from './session-files.js';

let root: string;
let ws: string;
beforeAll(() => {
  root = realpathSync(mkdtempSync(join(tmpdir(), 'mctl-ws-')));
  ws = join(root, 'ws');
  mkdirSync(join(ws, 'src'), { recursive: true });
  writeFileSync(join(ws, 'src', 'a.txt'), 'a');
  writeFileSync(join(root, 'secret'), 's');
  symlinkSync(root, join(ws, 'up'));
  symlinkSync(join(ws, 'src'), join(ws, 'inner'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('workspacePath', () => {
  it('takes paths inside the workspace, relative or absolute, through symlinks that stay inside', () => {
    expect(workspacePath(ws, 'src/a.txt', true)).toBe(join(ws, 'src', 'a.txt'));
    expect(workspacePath(ws, join(ws, 'src'), true)).toBe(join(ws, 'src'));
    expect(workspacePath(ws, '.', true)).toBe(ws);
    expect(workspacePath(ws, 'inner/a.txt', true)).toBe(join(ws, 'src', 'a.txt'));
    expect(workspacePath(ws, 'src/new.txt', false)).toBe(join(ws, 'src', 'new.txt'));
  });
  it('refuses paths outside, missing ones, and a new file in a missing directory', () => {
    expect(() => workspacePath(ws, '../secret', true)).toThrow(/leads outside/);
    expect(() => workspacePath(ws, 'src/../../secret', false)).toThrow(/leads outside/);
    expect(() => workspacePath(ws, 'up/secret', true)).toThrow(/through a symlink/);
    expect(() => workspacePath(ws, 'up/new.txt', false)).toThrow(/through a symlink/);
    expect(() => workspacePath(ws, join(root, 'secret'), true)).toThrow(/absolute path outside/);
    expect(() => workspacePath(ws, 'nope.txt', true)).toThrow(/no such file or directory/);
    expect(() => workspacePath(ws, 'nodir/x.txt', false)).toThrow(/does not exist/);
  });
});
