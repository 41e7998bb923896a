/**
 * The dashboard in a real browser (Debian's chromium through playwright-core) against the real
 * server: sign in with a token and with a one-time link from `mctl dashboard`, create a session from
 * the form (the dry-run verdicts first) and watch its log arrive live with its colours, a waiting
 * session's verdicts, suspend and resume, pools created and edited, registration tokens created
 * (secret shown once), rotated and revoked, 100,000 log lines, phone width and the dark theme. A
 * screenshot of each page goes to test-artifacts/dashboard/.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTIFACTS, launchChromium, screenshot } from './browser.support.js';
import { type ServerHandle, type SessionView, startServer, until } from './harness.js';

let srv: ServerHandle;
let browser: Browser;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  srv = await startServer();
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'light' });
  page = await context.newPage();
  page.setDefaultTimeout(30_000);
  // A script error in the page fails loudly in the test's output.
  context.on('weberror', (e) => console.error(`page error: ${e.error().message}`));
});
afterAll(async () => {
  await browser?.close();
  await srv?.destroy();
});

async function signIn(p: Page, token = srv.token): Promise<void> {
  await p.goto(`${srv.apiUrl}/`);
  await p.getByLabel('API token').fill(token);
  await p.getByRole('button', { name: 'Sign in' }).click();
  await p.getByRole('navigation', { name: 'Main' }).waitFor();
}

async function session(id: string): Promise<SessionView> {
  return (await srv.api<SessionView>('GET', `/v1/sessions/${id}`)).body;
}

describe('signing in', () => {
  it('serves the page without a token, refuses a wrong token naming why, and signs in with a good one', async () => {
    const res = await fetch(`${srv.apiUrl}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    await page.goto(`${srv.apiUrl}/`);
    await screenshot(page, 'sign-in');
    await page.getByLabel('API token').fill('mrt_not-a-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/invalid API token/);
    await signIn(page);
    await page.getByRole('heading', { name: 'Sessions' }).waitFor();
    // The live stream connects (the dot says so to screen readers too).
    await page.getByText('live', { exact: true }).waitFor({ state: 'attached' });
  });

  it('signs in with the one-time link `mctl dashboard` prints, once', async () => {
    const r = await srv.mctl(['-o', 'json', 'dashboard', '--no-open']);
    expect(r.code, r.stderr).toBe(0);
    const { url } = JSON.parse(r.stdout) as { url: string };
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/#login=mdl_/);
    const other = await browser.newContext();
    try {
      const p = await other.newPage();
      await p.goto(url);
      await p.getByRole('navigation', { name: 'Main' }).waitFor();
      // The code is gone from the address bar.
      expect(p.url()).not.toContain('login=');
      await p.evaluate('localStorage.clear()');
      // Used once: the same link again is refused, saying why.
      await p.goto('about:blank');
      await p.goto(url);
      await expect.poll(() => p.getByRole('alert').textContent()).toMatch(/already used/);
    } finally {
      await other.close();
    }
  });
});

describe('sessions', () => {
  let sid = '';

  it('creates a session from the form, shows where it would go first, and its log arrives live in colour', async () => {
    await page.goto(`${srv.apiUrl}/#/sessions`);
    await page.getByRole('button', { name: 'New session' }).click();
    const form = page.getByRole('form', { name: 'New session' });
    await form.getByLabel('Agent').selectOption('shell');
    await form
      .getByLabel('Prompt')
      .fill(String.raw`for i in $(seq 1 40); do printf '\033[31mred-%s\033[0m plain\n' $i; sleep 0.05; done`);
    await form.getByRole('button', { name: 'Check placement' }).click();
    const dry = page.getByTestId('dry-run');
    await dry.getByText('chosen').first().waitFor();
    expect(await dry.textContent()).toContain('local');
    await screenshot(page, 'sessions-create');
    await form.getByRole('button', { name: 'Create session' }).click();
    await page.waitForURL(/#\/sessions\/ses_/);
    sid = decodeURIComponent(page.url().split('/').pop()!);
    // Lines arrive while the task runs (it takes ~2 s): some before the end.
    await page.getByTestId('log').getByText('red-5', { exact: true }).waitFor();
    // Browser-side expressions are strings here: the tests are type-checked without the DOM's types.
    const red = await page.evaluate(
      `getComputedStyle([...document.querySelectorAll('[data-testid=log] span')].find((s) => s.textContent === 'red-5')).color`,
    );
    expect(red).toBe('rgb(255, 107, 107)');
    await page.getByTestId('log').getByText('red-40', { exact: true }).waitFor();
    await expect.poll(() => page.getByTestId('tasks').textContent(), { timeout: 30_000 }).toContain('succeeded');
    await screenshot(page, 'session');
    const s = await session(sid);
    expect(s.tasks[0]?.state).toBe('succeeded');
  });

  it('lists sessions and adds one created elsewhere without a reload (the event stream)', async () => {
    await page.goto(`${srv.apiUrl}/#/sessions`);
    await page.locator(`tr[data-session="${sid}"]`).waitFor();
    const r = await srv.api<{ id: string }>('POST', '/v1/sessions', { agent: 'shell', prompt: 'echo from-api' });
    expect(r.status).toBe(201);
    await page.locator(`tr[data-session="${r.body.id}"]`).waitFor();
    await screenshot(page, 'sessions');
  });

  it("shows a waiting session's verdicts pool by pool", async () => {
    const r = await srv.api<{ id: string }>('POST', '/v1/sessions', {
      agent: 'shell',
      prompt: 'echo never',
      selector: 'gpu>=1',
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    await page.goto(`${srv.apiUrl}/#/sessions/${r.body.id}`);
    await page.getByTestId('session-state').getByText('scheduling').waitFor();
    const verdicts = page.getByTestId('verdicts');
    await verdicts.waitFor();
    expect(await verdicts.textContent()).toMatch(/local.*selector/s);
    await screenshot(page, 'session-waiting');
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.getByTestId('session-state').getByText('cancelled').waitFor();
  });

  it('suspends and resumes a session from its page', async () => {
    await page.goto(`${srv.apiUrl}/#/sessions/${sid}`);
    await page
      .getByTestId('session-state')
      .getByText(/^(idle|active)$/)
      .waitFor();
    await page.getByRole('button', { name: 'Suspend' }).click();
    await page.getByTestId('session-state').getByText('suspended', { exact: true }).waitFor();
    expect((await session(sid)).state).toBe('suspended');
    await page.getByRole('button', { name: 'Resume' }).click();
    await until(async () => !['suspended', 'resuming'].includes((await session(sid)).state), 'the resume', 30_000);
    await page
      .getByTestId('session-state')
      .getByText(/^(idle|active|provisioning|scheduling)$/)
      .waitFor();
    // A follow-up task on the resumed session: its lines join the same log.
    const follow = page.getByRole('form', { name: 'Follow-up task' });
    await follow.getByLabel('Follow-up prompt').fill('echo after-resume');
    await follow.getByRole('button', { name: 'Run' }).click();
    await page.getByTestId('log').getByText('after-resume', { exact: true }).waitFor();
  });

  it('shows 100,000 log lines without freezing: only the rows in view are in the page', async () => {
    const r = await srv.api<{ id: string }>('POST', '/v1/sessions', {
      agent: 'shell',
      prompt: 'seq 1 100000',
    });
    expect(r.status).toBe(201);
    await until(
      async () => (await session(r.body.id)).tasks[0]?.state === 'succeeded',
      'the 100,000-line task',
      60_000,
    );
    // A page of its own (signed in through this context's storage), closed after.
    const big = await context.newPage();
    big.setDefaultTimeout(30_000);
    try {
      await big.goto(`${srv.apiUrl}/#/sessions/${r.body.id}`);
      await expect
        .poll(
          () =>
            big
              .getByTestId('log-status')
              .textContent({ timeout: 5_000 })
              .catch(() => ''),
          { timeout: 90_000 },
        )
        .toMatch(/^100,000 lines/);
      // It followed the end, and rendered a window of rows, not 100,000 elements.
      await big.getByTestId('log').getByText('100000', { exact: true }).waitFor();
      expect(await big.locator('.log-line').count()).toBeLessThan(300);
      // Scrolled to the top it stays there; "Jump to end" goes back to the last line.
      await big.evaluate(`document.querySelector('[data-testid=log]').scrollTop = 0`);
      await big.getByTestId('log').getByText('1', { exact: true }).waitFor();
      await big.getByRole('button', { name: 'Jump to end' }).click();
      await big.getByTestId('log').getByText('100000', { exact: true }).waitFor();
      await screenshot(big, 'session-100k');
    } finally {
      await big.close();
    }
  }, 150_000);
});

describe('pools, runners, tokens and costs', () => {
  it('creates a pool from the form and edits it', async () => {
    await page.goto(`${srv.apiUrl}/#/pools`);
    await page.locator('article[data-pool="local"]').waitFor();
    await page.getByRole('button', { name: 'New pool' }).click();
    const form = page.getByRole('form', { name: 'New pool' });
    await form.getByLabel('Name').fill('machines');
    // A local pool is refused in mode pool (its runners never join): the form says so.
    await form.getByLabel('Mode').selectOption('pool');
    await form.getByRole('button', { name: 'Create pool' }).click();
    await expect.poll(() => form.getByRole('alert').textContent()).toMatch(/provider must be one whose runners join/);
    await form.getByLabel('Provider').selectOption('pool');
    await form.getByLabel('Labels').fill('os=linux');
    await form.getByRole('button', { name: 'Create pool' }).click();
    const card = page.locator('article[data-pool="machines"]');
    await card.waitFor();
    await card.getByRole('button', { name: 'Edit machines' }).click();
    const edit = page.getByRole('form', { name: 'Edit pool machines' });
    await edit.getByLabel('Max runners').fill('3');
    await edit.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => card.textContent()).toContain('0 / 3 live');
    const pool = await srv.api<{ maxRunners: number; labels: Record<string, string> }>('GET', '/v1/pools/machines');
    expect(pool.body.maxRunners).toBe(3);
    expect(pool.body.labels).toEqual({ os: 'linux' });
    // The local pool's substrate, kind by kind with where it came from, and its suspend config.
    const local = page.locator('article[data-pool="local"]');
    expect(await local.textContent()).toMatch(/terminate_preserve_storage, else terminate; min 0 s, max none/);
    await local.getByText(/^Substrate/).click();
    const substrate = local.getByRole('table', { name: 'What local provides' });
    await expect.poll(() => substrate.textContent()).toMatch(/native\s*runtime\s*yes\s*the provider's default/);
    await screenshot(page, 'pools');
  });

  it('creates a registration token whose secret is shown once, rotates and revokes it', async () => {
    await page.goto(`${srv.apiUrl}/#/tokens`);
    const form = page.getByRole('form', { name: 'New registration token' });
    await form.getByLabel('Pool').selectOption('machines');
    await form.getByLabel('Description').fill('rack 1');
    await form.getByRole('button', { name: 'Create token' }).click();
    const secretBox = page.getByTestId('secret');
    const secret = await secretBox.getByRole('textbox').inputValue();
    expect(secret.length).toBeGreaterThan(20);
    await screenshot(page, 'tokens');
    await secretBox.getByRole('button', { name: 'Done' }).click();
    await page.reload();
    await page.getByTestId('tokens').getByText('rack 1').waitFor();
    // Never shown again: not in the page, not in what the API lists.
    expect(await page.content()).not.toContain(secret);
    const listed = await srv.api('GET', '/v1/runners/tokens');
    expect(JSON.stringify(listed.body)).not.toContain(secret);
    const row = page.locator('tr', { hasText: 'rack 1' });
    await row.getByRole('button', { name: /^Rotate/ }).click();
    const rotated = await page.getByTestId('secret').getByRole('textbox').inputValue();
    expect(rotated).not.toBe(secret);
    await page.getByTestId('secret').getByRole('button', { name: 'Done' }).click();
    // Rotating left two live tokens (the old one in its grace period): revoke both.
    const revoke = page.getByRole('button', { name: /^Revoke/ });
    for (let n = await revoke.count(); n > 0; n--) {
      await revoke.first().click();
      await expect.poll(() => revoke.count()).toBe(n - 1);
    }
    await expect.poll(() => page.getByTestId('tokens').textContent()).toContain('revoked');
    const after = await srv.api<{ items: { status: string }[] }>('GET', '/v1/runners/tokens');
    expect(after.body.items.every((t) => t.status === 'revoked')).toBe(true);
  });

  it('shows runners and costs', async () => {
    await page.goto(`${srv.apiUrl}/#/runners`);
    await page.getByTestId('runners').getByText('local', { exact: true }).first().waitFor();
    await screenshot(page, 'runners');
    await page.goto(`${srv.apiUrl}/#/costs`);
    await page.getByRole('heading', { name: 'Costs' }).waitFor();
    await screenshot(page, 'costs');
  });
});

describe('phone width, dark theme, keyboard', () => {
  it('fits a phone screen in the dark theme and is usable from the keyboard', async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: 'dark' });
    try {
      const p = await phone.newPage();
      await signIn(p);
      for (const [route, name] of [
        ['#/sessions', 'phone-sessions'],
        ['#/pools', 'phone-pools'],
        ['#/tokens', 'phone-tokens'],
      ] as const) {
        await p.goto(`${srv.apiUrl}/${route}`);
        await p.getByRole('heading', { level: 1 }).waitFor();
        // Nothing wider than the screen but the tables, which scroll inside their own box.
        expect(await p.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
        await screenshot(p, name);
      }
      const bg = await p.evaluate('getComputedStyle(document.body).backgroundColor');
      expect(bg).toBe('rgb(18, 20, 23)');
      // Keyboard: Tab reaches the navigation, Enter follows a link.
      await p.goto(`${srv.apiUrl}/#/sessions`);
      await p.getByRole('heading', { name: 'Sessions' }).waitFor();
      let reached = false;
      for (let i = 0; i < 10 && !reached; i++) {
        await p.keyboard.press('Tab');
        reached = (await p.evaluate('document.activeElement?.textContent')) === 'Pools';
      }
      expect(reached).toBe(true);
      await p.keyboard.press('Enter');
      await p.getByRole('heading', { name: 'Pools' }).waitFor();
      // Every form control has a name a screen reader can say.
      const unnamed = await p.evaluate(
        `[...document.querySelectorAll('input, select, textarea')].filter((e) => !(e.labels?.length || e.getAttribute('aria-label'))).length`,
      );
      expect(unnamed).toBe(0);
    } finally {
      await phone.close();
    }
  });

  it('saved a screenshot of every page', () => {
    for (const name of [
      'sign-in',
      'sessions',
      'sessions-create',
      'session',
      'session-waiting',
      'session-100k',
      'pools',
      'tokens',
      'runners',
      'costs',
    ])
      expect(existsSync(join(ARTIFACTS, `${name}.png`)), name).toBe(true);
    expect(readFileSync(join(ARTIFACTS, 'session.png')).subarray(1, 4).toString()).toBe('PNG');
  });
});
