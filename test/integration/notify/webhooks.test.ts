import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../../src/app.js';
import type { AuditEventInput } from '../../../src/audit/types.js';
import { loadConfigFile } from '../../../src/config/load.js';
import { createLogger } from '../../../src/logger.js';
import { baseConfig, bearer, workspace, type Workspace } from '../admin/fixture.js';
import { waitUntil } from '../../helpers/tools.js';
import { startWebhookReceiver, type WebhookReceiver } from '../../helpers/webhook-receiver.js';

/**
 * Webhooks for audit events, against a real HTTP receiver that checks signatures and can fail, hang or
 * redirect: deliveries retry until it recovers, are listed while they wait or once given up, can be
 * retried, survive a restart, and no secret reaches the log.
 */

const SECRET = 'whsec-7d1f0c9a4e2b8f63a5';
const HEADER_SECRET = 'hdr-token-93be0f1a7c';
const PATH_TOKEN = 'path-token-c4a19e27d0';
const env = { ...process.env, TEST_WEBHOOK_SECRET: SECRET };

let ws: Workspace;
let receiver: WebhookReceiver;
let logLines: string[];
const apps: App[] = [];

beforeEach(async () => {
  ws = await workspace('webhooks');
  receiver = await startWebhookReceiver(SECRET);
  logLines = [];
});
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close().catch(() => {})));
  await receiver.close();
  await ws.remove();
});

async function open(notifications: Record<string, unknown> = {}, webhook: Record<string, unknown> = {}): Promise<App> {
  await ws.write(baseConfig({
    notifications: {
      timeout: '400ms',
      retryBackoff: '100ms',
      ...notifications,
      webhooks: [{
        name: 'alerts',
        url: `${receiver.url}/hooks/${PATH_TOKEN}`,
        events: ['pull.manifest', 'policy.*'],
        decisions: ['deny'],
        secretEnv: 'TEST_WEBHOOK_SECRET',
        headers: { 'x-receiver-token': HEADER_SECRET },
        ...webhook,
      }],
    },
  }));
  const app = await createApp(loadConfigFile(ws.configPath, env), { log: createLogger('debug', {}, (line) => logLines.push(line)) });
  apps.push(app);
  return app;
}

const denial = (n: number): AuditEventInput => ({ kind: 'pull.manifest', decision: 'deny', repository: `org/app${n}`, reference: 'latest', reasons: ['unsigned'] });

async function deliveries(app: App, state = 'pending,failed') {
  const res = await request(app.express).get(`/api/v1/notifications?state=${state}`).set('Authorization', bearer('audrey'));
  expect(res.status).toBe(200);
  return res.body.deliveries as Array<{ id: number; eventId: number; state: string; attempts: number; lastError: string | null; lastStatus: number | null }>;
}

function expectNoSecretInLogs() {
  const all = logLines.join('\n');
  expect(logLines.length).toBeGreaterThan(0);
  for (const secret of [SECRET, HEADER_SECRET, PATH_TOKEN]) expect(all).not.toContain(secret);
}

describe('webhook notifications', () => {
  it('sends each wanted audit event as a signed CloudEvent, and only those', async () => {
    const app = await open();
    const allowed = await app.audit.record({ ...denial(1), decision: 'allow' });
    const denied = await app.audit.record(denial(2));
    const policy = await app.audit.record({ kind: 'policy.update', user: 'alice', reasons: ['new rule'] });
    const other = await app.audit.record({ kind: 'auth.failure', client: '192.0.2.7' });
    await waitUntil('two deliveries', async () => receiver.accepted.length >= 2);
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.accepted.map((r) => r.event.id).sort()).toEqual([String(denied), String(policy)].sort());
    expect(receiver.accepted.map((r) => r.event.id)).not.toContain(String(allowed));
    expect(receiver.accepted.map((r) => r.event.id)).not.toContain(String(other));

    const d = receiver.accepted.find((r) => r.event.id === String(denied))!;
    expect(d.signed).toBe(true);
    expect(d.headers['content-type']).toMatch(/^application\/cloudevents\+json/);
    expect(d.headers['portcullis-signature']).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(d.headers['x-receiver-token']).toBe(HEADER_SECRET);
    expect(d.event).toMatchObject({
      specversion: '1.0', id: String(denied), source: '/portcullis/audit', type: 'dev.portcullis.audit.pull.manifest',
      subject: 'org/app2:latest', datacontenttype: 'application/json',
      data: { id: denied, kind: 'pull.manifest', decision: 'deny', repository: 'org/app2', reasons: ['unsigned'] },
    });
    expect(typeof (d.event.data as { hash: unknown }).hash).toBe('string');
    expect(await deliveries(app)).toEqual([]);
  });

  it('retries a receiver that fails, hangs or redirects until it recovers, and says why meanwhile', async () => {
    const app = await open({ maxAttempts: 100 });
    receiver.setMode('fail');
    const id = await app.audit.record(denial(1));
    const reason = async (re: RegExp) => waitUntil(`a pending delivery failing with ${re}`, async () => {
      const [d] = await deliveries(app);
      return d !== undefined && d.state === 'pending' && d.eventId === id && re.test(d.lastError ?? '');
    });
    await reason(/answered 500/);
    receiver.setMode('hang');
    await reason(/no answer within 400 ms/);
    receiver.setMode('redirect');
    await reason(/answered 302, a redirect, which is not followed/);
    expect(receiver.redirectFollowed).toBe(0);
    receiver.setMode('ok');
    await waitUntil('the delivery', async () => receiver.accepted.length === 1);
    expect(receiver.accepted[0]!.event.id).toBe(String(id));
    await waitUntil('an empty outbox', async () => (await deliveries(app)).length === 0);
    const delivered = await deliveries(app, 'delivered');
    expect(delivered).toMatchObject([{ eventId: id, state: 'delivered', lastStatus: 204 }]);
    expect(delivered[0]!.attempts).toBeGreaterThan(3);

    const metrics = await request(app.handler).get('/metrics');
    expect(metrics.text).toMatch(/portcullis_notification_deliveries_total\{outcome="retry",webhook="alerts"\} [1-9]/);
    expect(metrics.text).toMatch(/portcullis_notification_deliveries_total\{outcome="delivered",webhook="alerts"\} 1/);
    expectNoSecretInLogs();
  });

  it('gives up after maxAttempts, lists the failure, and delivers it when an admin retries', async () => {
    const app = await open({ maxAttempts: 2 });
    receiver.setMode('fail');
    const id = await app.audit.record(denial(1));
    await waitUntil('a failed delivery', async () => (await deliveries(app, 'failed')).length === 1);
    const [failed] = await deliveries(app, 'failed');
    expect(failed).toMatchObject({ eventId: id, attempts: 2, lastStatus: 500 });
    expect(failed!.lastError).toMatch(/answered 500 \(gave up after 2 attempts\)/);

    const byAuditor = await request(app.express).post(`/api/v1/notifications/${failed!.id}/retry`).set('Authorization', bearer('audrey'));
    expect(byAuditor.status).toBe(403);
    receiver.setMode('ok');
    const retried = await request(app.express).post(`/api/v1/notifications/${failed!.id}/retry`).set('Authorization', bearer('alice'));
    expect(retried.status).toBe(200);
    expect(retried.body).toMatchObject({ id: failed!.id, state: 'pending', attempts: 0 });
    // Re-sending data is an admin action: audited, naming who did it, before the answer.
    const audited = await request(app.express).get('/api/v1/audit/events?kind=notification.retry').set('Authorization', bearer('audrey'));
    expect(audited.status).toBe(200);
    expect(audited.body.events).toHaveLength(1);
    expect(audited.body.events[0]).toMatchObject({
      user: 'alice', client: expect.any(String), reference: `delivery ${failed!.id}`,
      reasons: [`alice retried delivery ${failed!.id} of audit event ${id} to webhook alerts (it had failed after 2 attempts)`],
      evidence: { delivery: failed!.id, webhook: 'alerts', eventId: id, previousState: 'failed', previousAttempts: 2 },
    });
    await waitUntil('the retried delivery', async () => receiver.accepted.length === 1);
    expect(receiver.accepted[0]!.event.id).toBe(String(id));
    await waitUntil('it is delivered', async () => (await deliveries(app, 'delivered')).length === 1);

    const again = await request(app.express).post(`/api/v1/notifications/${failed!.id}/retry`).set('Authorization', bearer('alice'));
    expect(again.status).toBe(409);
    const unknown = await request(app.express).post('/api/v1/notifications/999999/retry').set('Authorization', bearer('alice'));
    expect(unknown.status).toBe(404);
    // What changed nothing is not recorded as a retry.
    const after = await request(app.express).get('/api/v1/audit/events?kind=notification.retry').set('Authorization', bearer('audrey'));
    expect(after.body.events).toHaveLength(1);
    const badState = await request(app.express).get('/api/v1/notifications?state=lost').set('Authorization', bearer('audrey'));
    expect(badState.status).toBe(400);
    expect(badState.body.errors[0].message).toContain('"lost"');
  });

  it('keeps at most maxPending waiting: the oldest are failed with the reason and counted', async () => {
    const app = await open({ maxPending: 2, retryBackoff: '1h' });
    receiver.setMode('fail');
    const ids = await Promise.all([1, 2, 3, 4, 5].map((n) => app.audit.record(denial(n))));
    await waitUntil('three dropped', async () => (await deliveries(app, 'failed')).length === 3);
    const failed = await deliveries(app, 'failed');
    expect(failed.map((d) => d.eventId).sort()).toEqual(ids.slice(0, 3).sort());
    for (const d of failed) expect(d.lastError).toBe('dropped: more than 2 deliveries were waiting');
    expect((await deliveries(app, 'pending')).map((d) => d.eventId).sort()).toEqual(ids.slice(3).sort());
    const metrics = await request(app.handler).get('/metrics');
    expect(metrics.text).toMatch(/portcullis_notification_deliveries_total\{outcome="dropped",webhook="alerts"\} 3/);
    expect(logLines.some((l) => l.includes('notification deliveries dropped'))).toBe(true);
  });

  it('loses nothing across a restart: what waited is delivered by the next start, once each', async () => {
    const first = await open({ retryBackoff: '100ms', maxAttempts: 100 });
    receiver.setMode('fail');
    const ids = await Promise.all([1, 2, 3].map((n) => first.audit.record(denial(n))));
    await waitUntil('every delivery tried', async () => {
      const d = await deliveries(first);
      return d.length === 3 && d.every((x) => x.attempts >= 1);
    });
    await first.close();
    apps.splice(apps.indexOf(first), 1);
    // Events written while no deliverer runs (a one-shot command, a stopped proxy) are sent too.
    const offline = await createApp(loadConfigFile(ws.configPath, env), { log: createLogger('debug', {}, (l) => logLines.push(l)), maintenance: false });
    ids.push(await offline.audit.record(denial(4)));
    await offline.close();

    receiver.setMode('ok');
    const second = await open({ retryBackoff: '100ms', maxAttempts: 100 });
    await waitUntil('all four delivered', async () => receiver.accepted.length >= 4);
    await waitUntil('an empty outbox', async () => (await deliveries(second)).length === 0);
    expect(receiver.accepted.map((r) => r.event.id).sort()).toEqual(ids.map(String).sort());
    expectNoSecretInLogs();
  });
});
