/**
 * A session's workspace snapshots on its dashboard page, in a real browser (Debian's chromium
 * through playwright-core) against the real server and its local runners: none at first (said so),
 * a checkpoint taken through the API arrives live (the event stream) with its files and size and is
 * marked the newest, one taken from the page's button becomes the newest, a suspend's snapshot
 * arrives as the session suspends, a snapshot downloads as a tar holding the session's files, a fork
 * from a row opens the new session with its first snapshot; and a token limited to the session's
 * project sees the same list and gets live updates. Screenshots go to test-artifacts/dashboard/.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, screenshot } from './browser.support.js';
import { type ServerHandle, type SessionView, startServer, until } from './harness.js';

let srv: ServerHandle;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const scratch = mkdtempSync(join(tmpdir(), 'mrn-dash-snap-'));

async function signIn(p: Page, token: string): Promise<void> {
  await p.goto(`${srv.apiUrl}/`);
  await p.getByLabel('API token').fill(token);
  await p.getByRole('button', { name: 'Sign in' }).click();
  await p.getByRole('navigation', { name: 'Main' }).waitFor();
}

beforeAll(async () => {
  srv = await startServer();
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  context.on('weberror', (e) => console.error(`page error: ${e.error().message}`));
  page = await context.newPage();
  page.setDefaultTimeout(30_000);
  await signIn(page, srv.token);
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await srv?.destroy();
  rmSync(scratch, { recursive: true, force: true });
});

const session = async (id: string) => (await srv.api<SessionView>('GET', `/v1/sessions/${id}`)).body;
const idle = (id: string) => until(async () => (await session(id)).state === 'idle', `session ${id} idle`, 60_000);

describe("a session's workspace snapshots", () => {
  let sid = '';
  const row = (id: string) => page.getByTestId('snapshots').locator(`tr[data-snapshot="${id}"]`);

  it('says there are none, then shows a checkpoint taken elsewhere as it is stored, as the newest', async () => {
    const s = await srv.api<{ id: string }>('POST', '/v1/sessions', {
      agent: 'shell',
      prompt: 'mkdir -p src && echo hello-snapshot > src/a.txt && seq 1 20000 > numbers.txt',
    });
    expect(s.status, JSON.stringify(s.body)).toBe(201);
    sid = s.body.id;
    await idle(sid);
    await page.goto(`${srv.apiUrl}/#/sessions/${sid}`);
    const table = page.getByTestId('snapshots');
    await table.getByText(/No snapshots yet/).waitFor();
    // The page is open: a checkpoint through the API reaches it over the event stream.
    const n = await srv.api<{ id: string; files: number; bytes: number }>('POST', `/v1/sessions/${sid}/snapshots`, {});
    expect(n.status, JSON.stringify(n.body)).toBe(201);
    const r = row(n.body.id);
    await r.waitFor();
    const text = (await r.textContent()) ?? '';
    expect(text).toContain('checkpoint');
    expect(text).toContain('latest');
    expect(text).toContain('pinned');
    expect(text).toContain(n.body.files.toLocaleString('en'));
    expect(text).toMatch(/\d+(\.\d)? kB/);
  });

  it('takes a checkpoint from the page, which becomes the newest', async () => {
    const before = await srv.api<{ items: { id: string }[] }>('GET', `/v1/workspaces?session=${sid}`);
    const first = before.body.items[0]!.id;
    await page.getByRole('button', { name: 'Checkpoint now' }).click();
    await expect.poll(() => page.getByTestId('snapshots').locator('tbody tr').count(), { timeout: 60_000 }).toBe(2);
    const after = await srv.api<{ items: { id: string }[] }>('GET', `/v1/workspaces?session=${sid}`);
    const second = after.body.items.find((x) => x.id !== first)!.id;
    await expect.poll(() => row(second).textContent()).toContain('latest');
    expect(await row(first).textContent()).not.toContain('latest');
    await screenshot(page, 'session-snapshots');
  });

  it('downloads a snapshot as a tar of the workspace', async () => {
    const list = await srv.api<{ items: { id: string }[] }>('GET', `/v1/workspaces?session=${sid}`);
    const id = list.body.items[0]!.id;
    const [file] = await Promise.all([
      page.waitForEvent('download'),
      row(id)
        .getByRole('button', { name: `Download ${id} as a tar` })
        .click(),
    ]);
    expect(file.suggestedFilename()).toBe(`${id}.tar`);
    const tar = join(scratch, 'snap.tar');
    await file.saveAs(tar);
    const listed = spawnSync('tar', ['-tf', tar], { encoding: 'utf8' });
    expect(listed.status, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/src\/a\.txt/);
    expect(listed.stdout).toMatch(/numbers\.txt/);
  });

  it("shows the suspend's snapshot when the session suspends through the store", async () => {
    await page.getByRole('button', { name: 'Suspend' }).click();
    await page.getByTestId('session-state').getByText('suspended', { exact: true }).waitFor({ timeout: 60_000 });
    const list = await srv.api<{ items: { id: string; reason: string }[] }>('GET', `/v1/workspaces?session=${sid}`);
    const suspend = list.body.items.find((x) => x.reason === 'suspend');
    expect(suspend, JSON.stringify(list.body)).toBeDefined();
    await expect.poll(() => row(suspend!.id).textContent()).toContain('suspend');
    expect(await row(suspend!.id).textContent()).toContain('latest');
    // No checkpoint of a session no runner holds: the button says why it is off.
    expect(await page.getByRole('button', { name: 'Checkpoint now' }).isDisabled()).toBe(true);
  });

  it('forks a new session from a snapshot row and opens it, with its first snapshot', async () => {
    const list = await srv.api<{ items: { id: string }[] }>('GET', `/v1/workspaces?session=${sid}`);
    const from = list.body.items[list.body.items.length - 1]!.id;
    await row(from)
      .getByRole('button', { name: `Fork a new session from ${from}` })
      .click();
    await page.waitForURL((u) => /#\/sessions\/ses_/.test(u.hash) && !u.hash.endsWith(sid));
    const fork = decodeURIComponent(page.url().split('/').pop()!);
    await page.getByRole('heading', { name: `Session ${fork}` }).waitFor();
    const forkRows = page.getByTestId('snapshots').locator('tbody tr');
    await expect.poll(() => forkRows.first().textContent()).toContain('fork');
    expect(await forkRows.count()).toBe(1);
    const mine = await srv.api<{ items: { reason: string; parentId: string }[] }>(
      'GET',
      `/v1/workspaces?session=${fork}`,
    );
    expect(mine.body.items).toMatchObject([{ reason: 'fork', parentId: from }]);
  });

  it("shows a project token the snapshots of its project's session, live", async () => {
    const t = await srv.api<{ token: string }>('POST', '/v1/tokens', {
      role: 'member',
      project: 'default',
      name: 'project-viewer',
    });
    expect(t.status, JSON.stringify(t.body)).toBe(201);
    const other = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const p = await other.newPage();
      p.setDefaultTimeout(30_000);
      await signIn(p, t.body.token);
      // The live stream serves a project token (it used to refuse one).
      await p.getByText('live', { exact: true }).waitFor({ state: 'attached' });
      const s = await srv.api<{ id: string }>('POST', '/v1/sessions', { agent: 'shell', prompt: 'echo x > x' });
      expect(s.status).toBe(201);
      await idle(s.body.id);
      await p.goto(`${srv.apiUrl}/#/sessions/${s.body.id}`);
      await p
        .getByTestId('snapshots')
        .getByText(/No snapshots yet/)
        .waitFor();
      const n = await srv.api<{ id: string }>('POST', `/v1/sessions/${s.body.id}/snapshots`, {});
      expect(n.status, JSON.stringify(n.body)).toBe(201);
      await p.getByTestId('snapshots').locator(`tr[data-snapshot="${n.body.id}"]`).waitFor();
      await screenshot(p, 'session-snapshots-project');
    } finally {
      await other.close();
    }
  });
});
