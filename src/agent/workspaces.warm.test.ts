/**
 * A warm local runner's workspace: the session it is given works in `<sessions dir>/<session id>`
 * (created, or the one a previous runner of the session left), and the runner's own empty
 * directory becomes a link to it; an unsafe session id is never made a path.
 */
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SessionWorkspaces } from './workspaces.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup() {
  const root = mkdtempSync(join(tmpdir(), 'marionette-ws-'));
  dirs.push(root);
  const own = join(root, 'run_warm');
  mkdirSync(own);
  return { root, own, ws: new SessionWorkspaces(own, false, root) };
}

describe('a warm local runner', () => {
  it('works in <root>/<session> and links its own directory there', () => {
    const { root, own, ws } = setup();
    const path = ws.forSession('ses_a');
    expect(path).toBe(join(root, 'ses_a'));
    expect(lstatSync(own).isSymbolicLink()).toBe(true);
    writeFileSync(join(path, 'f'), 'x');
    expect(readFileSync(join(own, 'f'), 'utf8')).toBe('x');
    expect(ws.forSession('ses_a')).toBe(path);
    expect(ws.held()).toEqual([]);
  });

  it('finds the files a previous runner of the session left (a retry, a resume)', () => {
    const { root, own, ws } = setup();
    mkdirSync(join(root, 'ses_b'));
    writeFileSync(join(root, 'ses_b', 'first-ran'), '');
    expect(ws.forSession('ses_b')).toBe(join(root, 'ses_b'));
    expect(realpathSync(own)).toBe(realpathSync(join(root, 'ses_b')));
  });

  it('refuses an unsafe session id', () => {
    const { ws } = setup();
    expect(() => ws.forSession('../x')).toThrow(/not a safe name/);
  });

  it('a runner started for its session keeps its own directory', () => {
    const { own } = setup();
    expect(new SessionWorkspaces(own, false).forSession('ses_c')).toBe(own);
  });
});
