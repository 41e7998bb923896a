/**
 * The dashboard's provider credentials page in a real browser (Debian's chromium through
 * playwright-core) against the real server: the list shows where each credential comes from (the
 * server's environment for Vercel, none for the others), a credential set from the form is listed as
 * stored with its field names and its value is never in the page or an API answer afterwards, a
 * missing required field is refused naming it, the stored one is deleted from its row, and the page
 * fits a phone screen. A screenshot goes to test-artifacts/dashboard/.
 */
import { randomBytes } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, screenshot } from './browser.support.js';
import { type ServerHandle, startServer } from './harness.js';

const SECRET = `e2b_${randomBytes(16).toString('hex')}`;
let srv: ServerHandle;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  srv = await startServer({
    env: {
      E2B_API_KEY: '',
      MODAL_TOKEN_ID: '',
      MODAL_TOKEN_SECRET: '',
      DAYTONA_API_KEY: '',
      VERCEL_TOKEN: 'env-token-0123456789',
    },
  });
  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.on('weberror', (e) => console.error(`page error: ${e.error().message}`));
  page = await context.newPage();
  page.setDefaultTimeout(30_000);
  await page.goto(`${srv.apiUrl}/`);
  await page.getByLabel('API token').fill(srv.token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await srv?.destroy();
});

const row = (provider: string) => page.getByTestId('credentials').locator(`tr[data-provider="${provider}"]`);

describe('provider credentials page', () => {
  it('lists, sets (never showing the value again), refuses a missing field, and deletes', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Credentials' }).click();
    await page.getByRole('heading', { name: 'Provider credentials' }).waitFor();
    await expect.poll(() => row('vercel').textContent()).toContain('environment');
    expect(await row('e2b').textContent()).toContain('none');
    expect(await row('e2b').textContent()).toContain('E2B_API_KEY');

    const form = page.getByRole('form', { name: 'Set a provider credential' });
    // Modal without its secret: the server's answer names the field (the browser's own check is bypassed).
    await form.getByLabel('Provider').selectOption('modal');
    await form.getByLabel('tokenId').fill('ak-123');
    await form.getByLabel('tokenSecret').evaluate((e) => e.removeAttribute('required'));
    await form.getByRole('button', { name: 'Set credential' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/credential field tokenSecret is required/);

    await form.getByLabel('Provider').selectOption('e2b');
    await form.getByLabel('apiKey').fill(SECRET);
    await form.getByRole('button', { name: 'Set credential' }).click();
    await expect
      .poll(() => page.getByRole('status').textContent())
      .toContain('Credential for e2b set (fields: apiKey)');
    await expect.poll(() => row('e2b').textContent()).toContain('stored');
    await screenshot(page, 'credentials');
    await page.reload();
    await expect.poll(() => row('e2b').textContent()).toContain('stored');
    expect(await page.content()).not.toContain(SECRET);
    expect(JSON.stringify((await srv.api('GET', '/v1/provider-credentials')).body)).not.toContain(SECRET);

    await row('e2b').getByRole('button', { name: 'Delete the stored credential for e2b' }).click();
    await expect.poll(() => row('e2b').textContent()).toContain('none');
    const listed = await srv.api<{ items: { provider: string; source: string }[] }>('GET', '/v1/provider-credentials');
    expect(listed.body.items.find((c) => c.provider === 'e2b')?.source).toBe('none');
  }, 90_000);

  it('fits a phone screen', async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 } });
    try {
      const p = await phone.newPage();
      await p.goto(`${srv.apiUrl}/`);
      await p.getByLabel('API token').fill(srv.token);
      await p.getByRole('button', { name: 'Sign in' }).click();
      await p.getByRole('navigation', { name: 'Main' }).waitFor();
      await p.goto(`${srv.apiUrl}/#/credentials`);
      await p.getByRole('heading', { level: 1 }).waitFor();
      expect(await p.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
      const unnamed = await p.evaluate(
        `[...document.querySelectorAll('input, select, textarea')].filter((e) => !(e.labels?.length || e.getAttribute('aria-label'))).length`,
      );
      expect(unnamed).toBe(0);
      await screenshot(p, 'phone-credentials');
    } finally {
      await phone.close();
    }
  }, 60_000);
});
