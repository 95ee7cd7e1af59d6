import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { REPO_ROOT } from '../helpers/proxy.js';
import { haveTools } from '../helpers/tools.js';

/** Shared by the browser suites of the console: Debian's chromium, sign-in, and the README's screenshots. */
export const CHROMIUM = '/usr/bin/chromium';
const haveBrowser = existsSync(CHROMIUM);
if (!haveBrowser) console.warn(`console e2e skipped: ${CHROMIUM} is not installed (apt-get install chromium)`);
export const skipConsole = !haveBrowser || !haveTools(['docker-registry', 'skopeo']);

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-quic', '--no-first-run', '--disable-sync'],
  });
}

/** Signs in through the form and waits until the header names the identity. */
export async function signIn(page: Page, consoleUrl: string, who: { name: string; role: string; secret: string }): Promise<void> {
  await page.goto(consoleUrl);
  await page.getByLabel('API token').fill(who.secret);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect.poll(() => page.locator('#whoami').textContent()).toBe(`Signed in as ${who.name} (${who.role})`);
}

const SHOTS = process.env.SCREENSHOTS ? join(REPO_ROOT, 'docs', 'screenshots') : undefined;

/** With SCREENSHOTS=1 (`npm run screenshots`), the page as the README shows it. */
export async function shot(page: Page, file: string): Promise<void> {
  if (!SHOTS) return;
  await mkdir(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, file), fullPage: true });
}
