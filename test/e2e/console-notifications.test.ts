import { createHash } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { startRegistry, type Registry } from '../helpers/registry.js';
import { waitUntil } from '../helpers/tools.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';
import { ACCEPT_ALL_MANIFESTS, removeTempDirs, tempDir, UPSTREAM } from './support.js';
import { launchBrowser, signIn as signInAs, skipConsole } from './console-support.js';

/**
 * Failed webhook deliveries in the console, in a real browser against the built proxy: an auditor reads why a
 * delivery failed, an admin sends it again (audited) and the receiver gets it.
 */
const SECRET = 'whsec-console-81f3a2c9';
const TOKENS = {
  alice: { role: 'admin', secret: 'e2e-notify-admin-6a0d3f' },
  audrey: { role: 'auditor', secret: 'e2e-notify-auditor-2c9b71' },
} as const;
type Name = keyof typeof TOKENS;

describe.skipIf(skipConsole)('console: notifications', () => {
  let registry: Registry;
  let receiver: WebhookReceiver;
  let proxy: Proxy;
  let browser: Browser;
  const signIn = (page: Page, name: Name) => signInAs(page, `${proxy.url}/ui/`, { name, ...TOKENS[name] });
  const api = async (path: string) => (await fetch(`${proxy.url}/api/v1${path}`, { headers: { Authorization: `Bearer ${TOKENS.alice.secret}` } })).json() as Promise<{ deliveries: Array<{ id: number; eventId: number }> }>;

  beforeAll(async () => {
    registry = await startRegistry({ dir: await tempDir('registry') });
    receiver = await startWebhookReceiver(SECRET);
    proxy = await startProxy({
      upstreams: [{ name: UPSTREAM, url: registry.url }],
      policies: [{ name: 'blocked', match: [`${UPSTREAM}/blocked/**`], mode: 'deny' }],
      dataDir: await tempDir('proxy'),
      env: { E2E_WEBHOOK_SECRET: SECRET },
      extra: {
        auth: { tokens: Object.entries(TOKENS).map(([name, t]) => ({ name, role: t.role, tokenSha256: createHash('sha256').update(t.secret).digest('hex') })) },
        notifications: {
          maxAttempts: 1,
          webhooks: [{ name: 'security', url: `${receiver.url}/hook`, events: ['pull.*'], decisions: ['deny'], secretEnv: 'E2E_WEBHOOK_SECRET' }],
        },
      },
    });
    browser = await launchBrowser();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await proxy?.stop();
    await receiver?.close();
    await registry?.stop();
    await removeTempDirs();
  });

  it('shows an auditor why a delivery failed, and lets an admin send it again', async () => {
    receiver.setMode('fail');
    const pull = await fetch(`${proxy.url}/v2/${UPSTREAM}/blocked/app/manifests/1`, { headers: { accept: ACCEPT_ALL_MANIFESTS } });
    expect(pull.status).toBe(403);
    await waitUntil('a failed delivery', async () => (await api('/notifications?state=failed')).deliveries.length === 1);
    const [failed] = (await api('/notifications?state=failed')).deliveries;

    const auditor = await browser.newContext();
    const page = await auditor.newPage();
    await signIn(page, 'audrey');
    await page.getByRole('link', { name: 'Notifications' }).click();
    const row = page.locator(`#notifications tbody tr[data-id="${failed!.id}"]`);
    await expect.poll(() => row.getAttribute('data-state')).toBe('failed');
    expect(await row.textContent()).toContain('answered 500 (gave up after 1 attempts)');
    expect(await row.getByRole('button').count()).toBe(0);
    await auditor.close();

    receiver.setMode('ok');
    const admin = await browser.newContext();
    const adminPage = await admin.newPage();
    await signIn(adminPage, 'alice');
    await adminPage.goto(`${proxy.url}/ui/#/notifications`);
    await adminPage.getByRole('button', { name: `Send delivery ${failed!.id} again` }).click();
    await expect.poll(() => adminPage.locator('#notification-result').textContent()).toContain(`Delivery ${failed!.id} of event ${failed!.eventId} to security is sent again now.`);
    await waitUntil('the delivery', async () => receiver.accepted.length === 1);
    expect(receiver.accepted[0]!.event.id).toBe(String(failed!.eventId));
    // Sending data again is an admin action, audited with who asked.
    const audit = await fetch(`${proxy.url}/api/v1/audit/events?kind=notification.retry`, { headers: { Authorization: `Bearer ${TOKENS.audrey.secret}` } });
    const { events } = (await audit.json()) as { events: Array<{ user: string; reference: string; reasons: string[] }> };
    expect(events).toMatchObject([{ user: 'alice', reference: `delivery ${failed!.id}`, reasons: [expect.stringContaining(`alice retried delivery ${failed!.id} of audit event ${failed!.eventId} to webhook security`)] }]);
    await adminPage.reload();
    await expect.poll(() => adminPage.locator('#notification-list').textContent()).toContain('Nothing is waiting and nothing has failed.');
    await admin.close();
  });
});
