import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCommand } from '../helpers/clients.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { pushBlob, pushImage, pushManifest, startRegistry, type Registry } from '../helpers/registry.js';
import { createSignatureArtifact, createTestPki, type OciArtifact } from '../helpers/pki/index.js';
import { removeTempDirs, tempDir, UPSTREAM } from './support.js';
import { launchBrowser, shot, signIn as signInAs, skipConsole } from './console-support.js';

/**
 * The web console in a real browser (Debian's chromium driven by playwright-core) against the built proxy
 * with a docker-registry upstream: signed images served and unsigned ones denied to skopeo pulls by two
 * puller tokens, then an auditor and an admin working only through the console. `SCREENSHOTS=1` also
 * writes the README's screenshots into docs/screenshots/.
 */
const GITHUB = 'https://token.actions.githubusercontent.com';
const RELEASE = 'https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0.0';
const SIGNED = `${UPSTREAM}/acme/app`;
const UNSIGNED = `${UPSTREAM}/acme/unsigned`;

const TOKENS = {
  alice: { role: 'admin', secret: 'e2e-console-admin-8f2a61' },
  audrey: { role: 'auditor', secret: 'e2e-console-auditor-4c9d07' },
  'ci-bot': { role: 'puller', secret: 'e2e-console-ci-1b7e55' },
  'dev-laptop': { role: 'puller', secret: 'e2e-console-dev-6a3f92' },
} as const;
type Name = keyof typeof TOKENS;

const RULES_V1 = [
  {
    name: 'release-signed',
    match: [`${UPSTREAM}/acme/**`],
    mode: 'enforce',
    signatures: { anyOf: [{ keyless: { issuer: GITHUB, subjectRegExp: 'https://github\\.com/acme/[^/]+/\\.github/workflows/release\\.yml@refs/tags/v.*' } }] },
  },
];
const RULES_V2 = [{ name: 'blocked', match: [`${UPSTREAM}/blocked/**`], mode: 'deny' }, ...RULES_V1];

describe.skipIf(skipConsole)('web console in a browser', () => {
  let registry: Registry;
  let proxy: Proxy;
  let browser: Browser;
  let context: BrowserContext;

  const api = (name: Name, path: string, init: RequestInit = {}) =>
    fetch(`${proxy.url}/api/v1${path}`, { ...init, headers: { Authorization: `Bearer ${TOKENS[name].secret}`, 'Content-Type': 'application/json', ...init.headers } });

  /** A real pull with skopeo under a puller's token; resolves with whether it was served. */
  async function pull(name: Name, image: string): Promise<boolean> {
    try {
      await runCommand('skopeo', [
        '--insecure-policy', 'copy', '--src-tls-verify=false', '--src-creds', `${name}:${TOKENS[name].secret}`,
        `docker://${proxy.host}/${image}:1`, `oci:${await tempDir('pull')}`,
      ]);
      return true;
    } catch (err) {
      if (!/denied|DENIED|403/.test(String(err))) throw err;
      return false;
    }
  }

  async function push(artifact: OciArtifact, repo: string): Promise<void> {
    for (const blob of artifact.blobs) await pushBlob(registry.url, repo, blob);
    await pushManifest(registry.url, repo, artifact.tag ?? artifact.digest, artifact.manifest, artifact.mediaType);
  }

  const signIn = (page: Page, name: Name) => signInAs(page, `${proxy.url}/ui/`, { name, ...TOKENS[name] });

  beforeAll(async () => {
    registry = await startRegistry({ dir: await tempDir('registry') });
    const pki = createTestPki();
    const dataDir = await tempDir('proxy');
    const trustedRoot = await pki.writeTrustedRoot(dataDir);
    const signed = await pushImage(registry.url, 'acme/app', '1', { layers: 1 });
    await push(createSignatureArtifact({ digest: signed.digest, repository: SIGNED, signer: pki.fulcio.issue({ uri: RELEASE, issuer: GITHUB }), rekor: pki.rekor }), 'acme/app');
    await pushImage(registry.url, 'acme/unsigned', '1', { layers: 1 });
    proxy = await startProxy({
      upstreams: [{ name: UPSTREAM, url: registry.url }],
      policies: RULES_V1,
      dataDir,
      extra: {
        trust: { trustedRoot },
        auth: {
          pull: 'token',
          tokens: Object.entries(TOKENS).map(([name, t]) => ({ name, role: t.role, tokenSha256: createHash('sha256').update(t.secret).digest('hex') })),
        },
      },
    });
    // A second policy version, so there is a diff to read and a version to roll back to.
    const put = await api('alice', '/policy', { method: 'PUT', body: JSON.stringify({ policies: RULES_V2, comment: 'nothing under blocked/ is to be pulled' }) });
    expect(put.status, await put.clone().text()).toBe(200);
    expect(await pull('ci-bot', SIGNED)).toBe(true);
    expect(await pull('dev-laptop', SIGNED)).toBe(true);
    expect(await pull('dev-laptop', UNSIGNED)).toBe(false);
    expect(await pull('ci-bot', UNSIGNED)).toBe(false);
    browser = await launchBrowser();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await proxy?.stop();
    await registry?.stop();
    await removeTempDirs();
  });

  beforeEach(async () => {
    context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
  });

  afterEach(async () => {
    await context?.close();
  });

  it('signs in with the keyboard only: tab to the token field, Enter submits', async () => {
    const page = await context.newPage();
    await page.goto(`${proxy.url}/ui/`);
    // The form focuses its field on load; start again from the page's top (a click on its heading moves focus
    // there): the field is reached with Tab, after at most the skip link.
    await page.getByRole('heading', { name: 'Sign in' }).click();
    expect(await page.evaluate(() => document.activeElement?.id)).not.toBe('token');
    const tabs: string[] = [];
    for (let i = 0; i < 3 && tabs.at(-1) !== 'token'; i++) {
      await page.keyboard.press('Tab');
      tabs.push(await page.evaluate(() => document.activeElement?.id || document.activeElement?.className || ''));
    }
    expect(tabs.at(-1), `focus went ${tabs.join(' → ')}`).toBe('token');
    await page.keyboard.type(TOKENS.audrey.secret);
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('#whoami').textContent()).toBe('Signed in as audrey (auditor)');
    // A wrong token returns to sign-in with the API's reason.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API token').fill('not-a-token');
    await page.getByLabel('API token').press('Enter');
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/^Sign-in failed: .*token/i);
    await expect.poll(() => page.getByLabel('API token').isVisible()).toBe(true);

    // A puller's token is a real identity, but not one the console can serve.
    await page.getByLabel('API token').fill(TOKENS['ci-bot'].secret);
    await page.getByLabel('API token').press('Enter');
    await expect.poll(() => page.getByRole('alert').textContent()).toBe(
      'The token of ci-bot (puller) cannot use the console; sign in with an admin or auditor token.',
    );
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);

    // A token that stops working mid-session (here: replaced) returns to sign-in with the reason.
    await page.getByLabel('API token').fill(TOKENS.audrey.secret);
    await page.getByLabel('API token').press('Enter');
    await expect.poll(() => page.locator('#whoami').textContent()).toBe('Signed in as audrey (auditor)');
    await page.evaluate(() => sessionStorage.setItem('portcullis.token', 'revoked-token'));
    await page.getByRole('link', { name: 'Audit events' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toBe('You were signed out: unknown token');
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
  });

  it('lets an auditor find last week\'s denials, who asked and why, open one, and export exactly what is shown', async () => {
    const page = await context.newPage();
    await signIn(page, 'audrey');

    // Overview: the chain is intact, with as many events as the log holds now.
    await expect.poll(() => page.locator('#chain-status').textContent()).toMatch(/^Intact: \d+ events, head [0-9a-f]{16}…$/);
    const all = await (await api('audrey', '/audit/events?format=ndjson')).text();
    const count = all.trim().split('\n').length;
    expect(await page.locator('#chain-status').textContent()).toContain(`Intact: ${count} events`);
    await expect.poll(() => page.locator('#top-denied').textContent()).toContain(UNSIGNED);
    await expect.poll(() => page.locator('#top-pullers').textContent()).toContain('dev-laptop');
    await shot(page, 'overview.png');
    // A puller leads to their pulls.
    await page.locator('#top-pullers').getByRole('link', { name: 'dev-laptop' }).click();
    await expect.poll(() => page.locator('#results-summary').textContent()).toBe('Events 1–2.');
    expect(await page.locator('table.events tbody tr td:nth-child(5)').allTextContents()).toEqual(['dev-laptop 127.0.0.1', 'dev-laptop 127.0.0.1']);

    await page.getByRole('link', { name: 'Audit events' }).click();
    await page.getByLabel('Period').selectOption({ label: 'Last 7 days' });
    await page.getByLabel('Decision').selectOption('deny');
    await page.getByLabel('Repository', { exact: true }).fill(UNSIGNED);
    await page.getByRole('button', { name: 'Show events' }).click();
    await expect.poll(() => page.locator('#results-summary').textContent()).toBe('Events 1–2.');
    const rows = page.locator('table.events tbody tr');
    await expect.poll(() => rows.count()).toBe(2);
    const shown = await rows.evaluateAll((trs) => trs.map((tr) => ({ id: tr.getAttribute('data-id'), cells: [...(tr as HTMLTableRowElement).cells].map((c) => c.textContent ?? '') })));
    expect(shown.map((r) => r.cells[1])).toEqual(['deny', 'deny']);
    expect(shown.map((r) => r.cells[3])).toEqual([`${UNSIGNED}:1`, `${UNSIGNED}:1`]);
    // Newest first: the first row is the newest matching event.
    expect(shown.map((r) => r.cells[4]!.split(' ')[0])).toEqual(['ci-bot', 'dev-laptop']);
    const newest = (await (await api('audrey', `/audit/events?${new URLSearchParams({ decision: 'deny', repository: UNSIGNED, order: 'desc', limit: '1' })}`)).json()) as { events: { id: number }[] };
    expect(shown[0]!.id).toBe(String(newest.events[0]!.id));
    expect(Number(shown[0]!.id)).toBeGreaterThan(Number(shown[1]!.id));
    expect(shown.every((r) => r.cells[5] === 'release-signed' && /signature/i.test(r.cells[6]!))).toBe(true);

    // The filters are in the address, so the view can be shared; the token never is.
    const url = new URL(page.url());
    expect(url.hash).toMatch(/^#\/events\?/);
    const shared = new URLSearchParams(url.hash.split('?')[1]);
    expect(Object.fromEntries(shared)).toEqual({ decision: 'deny', repository: UNSIGNED, since: '7d' });
    await shot(page, 'explorer.png');

    // CSV of what is shown: the same rows in the same order, with who asked and why.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
    expect(download.suggestedFilename()).toBe('audit-events.csv');
    const csv = parseCsv(await readFile((await download.path())!, 'utf8'));
    const header = csv[0]!;
    const records = csv.slice(1).map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]])));
    expect(records.map((r) => r.id)).toEqual(shown.map((r) => r.id));
    expect(records.map((r) => r.user)).toEqual(['ci-bot', 'dev-laptop']);
    expect(records.every((r) => r.decision === 'deny' && r.repository === UNSIGNED && r.policy === 'release-signed')).toBe(true);
    expect(records.map((r) => (JSON.parse(r.reasons!) as string[])[0])).toEqual(shown.map((r) => r.cells[6]));
    const [ndjsonDownload] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download NDJSON' }).click()]);
    const lines = (await readFile((await ndjsonDownload.path())!, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { id: number; user: string });
    expect(lines.map((e) => String(e.id))).toEqual(shown.map((r) => r.id));

    // The event page: reasons, rule, policy version, request id, and a way to the rest of that request.
    await page.getByRole('link', { name: new RegExp(`^Event ${shown[0]!.id} at`) }).click();
    await expect.poll(() => page.locator('h1').textContent()).toBe(`Event ${shown[0]!.id} deny`);
    const facts = await page.locator('dl.facts').first().textContent();
    expect(facts).toContain('release-signed');
    expect(facts).toContain('ci-bot');
    expect(facts).toMatch(/Policy version2/);
    expect(await page.locator('ul.reasons').textContent()).toBe(shown[0]!.cells[6]);
    await shot(page, 'event.png');
    await page.getByRole('link', { name: 'All events of this request' }).click();
    await expect.poll(() => page.locator('#results-summary').textContent()).toMatch(/^Events 1–\d+\.$/);
    const requestIds = new Set(await page.locator('table.events tbody tr').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-id'))));
    expect(requestIds.has(shown[0]!.id)).toBe(true);
    const requestView = new URLSearchParams(new URL(page.url()).hash.split('?')[1]);
    expect(requestView.get('requestId')).toBeTruthy();
    // Bounded in time, so the database reads the time index instead of the whole log.
    expect(Date.parse(requestView.get('until')!) - Date.parse(requestView.get('since')!)).toBe(2 * 86_400_000);

    // A custom range (local times in the form, ISO times in the address): an hour either side of now holds them.
    await page.goto(`${proxy.url}/ui/#/events?decision=deny&repository=${encodeURIComponent(UNSIGNED)}`);
    await page.getByLabel('Period').selectOption({ label: 'Custom range' });
    const local = (offsetMs: number) => page.evaluate((ms) => {
      const d = new Date(Date.now() + ms);
      const pad = (n: number) => String(n).padStart(2, '0');
      return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
    }, offsetMs);
    await page.getByLabel('From (local time)').fill(await local(-3_600_000));
    await page.getByLabel('To (local time)').fill(await local(3_600_000));
    await page.getByRole('button', { name: 'Show events' }).click();
    await expect.poll(() => new URLSearchParams(new URL(page.url()).hash.split('?')[1]).get('until')).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:00\.000Z$/);
    await expect.poll(() => page.locator('#results-summary').textContent()).toBe('Events 1–2.');
    expect(await page.getByLabel('Period').inputValue()).toBe('custom');

    // Paging follows the API's cursor back from the newest and returns to the same rows; the page size is in the address.
    await page.goto(`${proxy.url}/ui/#/events?kind=pull.manifest&limit=2`);
    const pageIds = () => page.locator('table.events tbody tr').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-id')));
    await expect.poll(() => page.locator('#results-summary').textContent()).toBe('Events 1–2 (more on the next page).');
    const firstPage = await pageIds();
    await page.getByRole('button', { name: 'Next page' }).click();
    await expect.poll(() => page.locator('#results-summary').textContent()).toBe('Events 3–4.');
    const secondPage = await pageIds();
    const manifests = all.trim().split('\n').map((l) => JSON.parse(l) as { id: number; kind: string }).filter((e) => e.kind === 'pull.manifest');
    expect([...firstPage, ...secondPage]).toEqual(manifests.map((e) => String(e.id)).reverse());
    await page.getByRole('button', { name: 'Previous page' }).click();
    await expect.poll(() => page.locator('#results-summary').textContent()).toBe('Events 1–2 (more on the next page).');
    expect(await pageIds()).toEqual(firstPage);
    expect(await page.getByRole('button', { name: 'Previous page' }).isDisabled()).toBe(true);
    // Oldest first is a choice kept in the address; pages and downloads follow it.
    await page.getByLabel('Order').selectOption({ label: 'Oldest first' });
    await expect.poll(() => new URLSearchParams(new URL(page.url()).hash.split('?')[1]).get('order')).toBe('asc');
    await expect.poll(pageIds).toEqual(manifests.slice(0, 2).map((e) => String(e.id)));
    await page.getByRole('button', { name: 'Next page' }).click();
    await expect.poll(pageIds).toEqual(manifests.slice(2, 4).map((e) => String(e.id)));
    const [oldestFirst] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download NDJSON' }).click()]);
    const oldestLines = (await readFile((await oldestFirst.path())!, 'utf8')).trim().split('\n').map((l) => String((JSON.parse(l) as { id: number }).id));
    expect(oldestLines).toEqual(await pageIds());

    // An allowed pull's event shows the evidence: the keyless signer, its issuer and its log index.
    await page.goto(`${proxy.url}/ui/#/events?${new URLSearchParams({ decision: 'allow', repository: SIGNED, kind: 'pull.manifest' })}`);
    await page.locator('table.events tbody tr a').first().click();
    const signer = page.locator('table.evidence').first();
    await expect.poll(() => signer.textContent()).toContain(RELEASE);
    expect(await signer.textContent()).toContain(GITHUB);
    expect(await signer.locator('tbody td').nth(3).textContent()).toMatch(/^\d+$/);
    expect(await signer.locator('tbody td').nth(4).textContent()).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z$/);
  }, 120_000);

  it('lets an admin read a version\'s diff and roll back to it', async () => {
    const page = await context.newPage();
    await signIn(page, 'alice');
    await page.getByRole('link', { name: 'Policy' }).click();
    await page.getByRole('button', { name: 'Show diff of version 2' }).click();
    const diff = page.locator('#diff');
    await expect.poll(() => diff.textContent()).toContain('Added rule "blocked"');
    expect(await diff.textContent()).toContain('compared with version 1');
    await shot(page, 'policy.png');

    // Evaluate: the decision a pull would get now, with its reason.
    await page.getByLabel('Image', { exact: true }).fill(`${UNSIGNED}:1`);
    await page.getByRole('button', { name: 'Evaluate' }).click();
    await expect.poll(() => page.locator('#evaluate-result').textContent()).toMatch(
      new RegExp(`^deny ${UNSIGNED}:1 would be denied by rule release-signed \\(policy version 2\\)\\.sha256:[0-9a-f]{64}no signature by`),
    );
    // Replay: an allow-all draft would have served both denied pulls of the unsigned image.
    await page.getByLabel('Draft rules (JSON array)').fill(JSON.stringify([{ name: 'open', match: ['**'], mode: 'allow' }]));
    await page.getByRole('button', { name: 'Replay' }).click();
    await expect.poll(() => page.locator('#replay-result p').first().textContent()).toMatch(/^4 pulls from .*: 2 unchanged, 0 would now be denied, 2 would now be served, 0 cannot be judged\.$/);
    expect(await page.locator('#replay-result table caption').textContent()).toBe('Would now be served: 2 pulls');

    await page.getByRole('button', { name: 'Roll back to version 1' }).click();
    await page.getByLabel(/^Why/).fill('the blocked namespace is not ready');
    await page.getByRole('button', { name: 'Yes, roll back to version 1' }).click();
    await expect.poll(() => page.locator('#active-title').textContent()).toBe('Active rules (version 3)');
    const active = (await (await api('audrey', '/policy')).json()) as { version: number; policies: unknown };
    expect(active.version).toBe(3);
    expect(active.policies).toEqual(RULES_V1);
    const v3 = (await (await api('audrey', '/policy/versions/3')).json()) as { rollbackOf: number; author: string; comment: string };
    expect(v3).toMatchObject({ rollbackOf: 1, author: 'alice', comment: 'the blocked namespace is not ready' });
    expect(await page.locator('#versions tr[data-version="3"]').textContent()).toContain('the blocked namespace is not ready');

    // A rollback from a page that shows an outdated policy is refused by the API, and the console says so.
    await page.getByRole('button', { name: 'Roll back to version 2' }).click();
    const changed = await api('alice', '/policy', { method: 'PUT', body: JSON.stringify({ policies: RULES_V1, comment: 'meanwhile' }) });
    expect(changed.status).toBe(200);
    await page.getByRole('button', { name: 'Yes, roll back to version 2' }).click();
    await expect.poll(() => page.locator('.confirm .error').textContent()).toMatch(/^If-Match does not hold/);
    expect(((await (await api('audrey', '/policy')).json()) as { version: number }).version).toBe(4);
  });

  it('shows a new denial in the live view as it happens', async () => {
    const page = await context.newPage();
    await signIn(page, 'audrey');
    await page.getByRole('link', { name: 'Live' }).click();
    await expect.poll(() => page.locator('#live-state').textContent()).toMatch(/^Connected/);
    expect(await pull('dev-laptop', UNSIGNED)).toBe(false);
    const row = page.locator('#live-events tr', { hasText: UNSIGNED });
    await expect.poll(() => row.first().textContent(), { timeout: 20_000 }).toMatch(/deny.*dev-laptop/);
  });

  it('keeps the token out of the address and cookies, sends the CSP, and gives an auditor no admin actions', async () => {
    const page = await context.newPage();
    const response = await page.goto(`${proxy.url}/ui/`);
    const headers = response!.headers();
    expect(headers['content-security-policy']).toMatch(/default-src 'self'; script-src 'self'; style-src 'self'/);
    expect(headers['x-content-type-options']).toBe('nosniff');
    expect(headers['referrer-policy']).toBe('no-referrer');
    const violations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
    });
    await signIn(page, 'audrey');
    for (const link of ['Audit events', 'Live', 'Policy', 'Overview']) {
      await page.getByRole('link', { name: link }).click();
      expect(page.url()).not.toContain(TOKENS.audrey.secret);
    }
    expect(await context.cookies()).toEqual([]);
    expect(await page.evaluate(() => document.cookie)).toBe('');
    expect(await page.evaluate(() => localStorage.length)).toBe(0);

    await page.getByRole('link', { name: 'Policy' }).click();
    await expect.poll(() => page.locator('#versions tbody tr').count()).toBeGreaterThan(1);
    expect(await page.getByRole('button', { name: /^Roll back/ }).count()).toBe(0);
    expect(await page.locator('#replay-policies').count()).toBe(0);
    expect(await page.getByText('Rolling back needs an admin token.').isVisible()).toBe(true);
    // The console only hides the action: the API is what refuses it.
    const forced = await page.evaluate(async () => {
      const res = await fetch('/api/v1/policy/rollback', {
        method: 'POST',
        headers: { Authorization: `Bearer ${sessionStorage.getItem('portcullis.token')}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ version: 1 }),
      });
      return res.status;
    });
    expect(forced).toBe(403);

    // The API's own words when it refuses a request, here a malformed time in a shared address.
    await page.goto(`${proxy.url}/ui/#/events?since=last-tuesday`);
    await expect.poll(() => page.locator('.results [role=alert]').textContent()).toBe(
      '1 invalid parameter(s) — since must be an ISO 8601 time or a duration back from now such as "30s", "15m", "4h" or "7d"',
    );
    expect(violations).toEqual([]);

    // Another tab does not share the token; signing out forgets it.
    const other = await context.newPage();
    await other.goto(`${proxy.url}/ui/`);
    await expect.poll(() => other.getByLabel('API token').isVisible()).toBe(true);
    await page.getByRole('button', { name: 'Sign out' }).click();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
  });
});

/** RFC 4180: quoted cells may hold commas, quotes (doubled) and line breaks. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (cell += '"'), i++;
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') row.push(cell), (cell = '');
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else cell += c;
  }
  if (cell || row.length) rows.push([...row, cell]);
  return rows;
}
