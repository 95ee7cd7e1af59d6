import { createHash } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { havePostgres, startPostgres, type PgCluster } from '../helpers/postgres.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { pushImage, startRegistry, type Registry } from '../helpers/registry.js';
import { haveTools, waitUntil } from '../helpers/tools.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';
import { ACCEPT_ALL_MANIFESTS, removeTempDirs, tempDir, UPSTREAM } from './support.js';

/**
 * Signed webhooks from two proxy processes on one PostgreSQL database: denied pulls through either reach a
 * real receiver once each, a receiver that hangs slows no pull, a replica restarted while deliveries wait
 * loses none of them, and no secret reaches either process's log.
 */
const ADMIN = 'e2e-admin-b7c2d9e4a1';
const SECRET = 'whsec-e2e-4f8a1c6d2b9e07';
const PATH_TOKEN = 'hook-path-token-5d2e8a';
const POLICIES = [
  { name: 'closed', match: [`${UPSTREAM}/org/closed`], mode: 'deny' },
  { name: 'open', match: [`${UPSTREAM}/**`], mode: 'allow' },
];
const skip = !haveTools(['docker-registry']) || !havePostgres();

describe.skipIf(skip)('webhook notifications from two replicas on PostgreSQL', () => {
  let pgc: PgCluster;
  let dbUrl: string;
  let registry: Registry;
  let receiver: WebhookReceiver;
  let replicas: Proxy[];

  const manifest = async (p: Proxy, repo: string) => {
    const started = performance.now();
    const res = await fetch(`${p.url}/v2/${UPSTREAM}/${repo}/manifests/1`, { headers: { accept: ACCEPT_ALL_MANIFESTS }, signal: AbortSignal.timeout(30_000) });
    await res.arrayBuffer();
    return { status: res.status, ms: performance.now() - started };
  };
  const deniedIds = async (): Promise<string[]> => {
    const client = new pg.Client({ connectionString: dbUrl });
    await client.connect();
    try {
      const { rows } = await client.query("SELECT id FROM audit_events WHERE kind = 'pull.manifest' AND decision = 'deny' ORDER BY id");
      return rows.map((r: { id: string | number }) => String(r.id));
    } finally {
      await client.end();
    }
  };

  beforeAll(async () => {
    pgc = await startPostgres();
    dbUrl = await pgc.createDatabase('webhooks');
    registry = await startRegistry({ dir: await tempDir('registry') });
    await pushImage(registry.url, 'org/app', '1', { layers: 1, layerSize: 1024 });
    await pushImage(registry.url, 'org/closed', '1', { layers: 1, layerSize: 1024 });
    receiver = await startWebhookReceiver(SECRET, { delayMs: 30 });
    const store = await tempDir('shared-store');
    replicas = await Promise.all([0, 1].map(async () => startProxy({
      upstreams: [{ name: UPSTREAM, url: registry.url }],
      policies: POLICIES,
      dataDir: await tempDir('replica'),
      env: { E2E_DATABASE_URL: dbUrl, E2E_WEBHOOK_SECRET: SECRET },
      extra: {
        database: { urlEnv: 'E2E_DATABASE_URL' },
        storage: { path: store },
        server: { workers: 1 },
        auth: { tokens: [{ name: 'alice', role: 'admin', tokenSha256: createHash('sha256').update(ADMIN).digest('hex') }] },
        notifications: {
          timeout: '20s',
          retryBackoff: '200ms',
          maxAttempts: 100,
          webhooks: [{ name: 'security', url: `${receiver.url}/${PATH_TOKEN}`, events: ['pull.manifest'], decisions: ['deny'], secretEnv: 'E2E_WEBHOOK_SECRET' }],
        },
      },
    })));
  });

  afterAll(async () => {
    for (const r of replicas ?? []) await r.stop();
    await receiver?.close();
    await registry?.stop();
    await pgc?.destroy();
    await removeTempDirs();
  });

  it('answers pulls at once while the receiver hangs', async () => {
    receiver.setMode('hang');
    expect((await manifest(replicas[0]!, 'org/closed')).status).toBe(403);
    await waitUntil('a delivery held by the receiver', async () => receiver.held() >= 1);
    const timed = [];
    for (let i = 0; i < 6; i++) {
      timed.push(await manifest(replicas[i % 2]!, 'org/closed'));
      timed.push(await manifest(replicas[i % 2]!, 'org/app'));
    }
    expect(receiver.held()).toBeGreaterThanOrEqual(1);
    expect(timed.map((t) => t.status)).toEqual(Array.from({ length: 6 }, () => [403, 200]).flat());
    // Far below the 20s a delivery may take: no pull waited for the receiver.
    for (const t of timed) expect(t.ms).toBeLessThan(5_000);
    expect(receiver.accepted).toHaveLength(0);
  });

  it('delivers every denial once, across a restart of a replica, when the receiver recovers', async () => {
    // Restarted while its deliveries hang: they are given back, not lost.
    await replicas[0]!.restart();
    receiver.setMode('ok');
    for (let i = 0; i < 10; i++) expect((await manifest(replicas[i % 2]!, 'org/closed')).status).toBe(403);
    const denied = await deniedIds();
    expect(denied.length).toBe(17);
    await waitUntil('every denial delivered', async () => new Set(receiver.accepted.map((r) => r.event.id)).size >= denied.length, 60_000);
    // Give a second sender time to show itself.
    await new Promise((r) => setTimeout(r, 2_000));
    const ids = receiver.accepted.map((r) => r.event.id);
    expect([...ids].sort()).toEqual([...denied].sort());
    for (const r of receiver.accepted) {
      expect(r.signed).toBe(true);
      expect(r.event).toMatchObject({ type: 'dev.portcullis.audit.pull.manifest', data: { decision: 'deny', repository: `${UPSTREAM}/org/closed` } });
    }
    const waiting = await fetch(`${replicas[1]!.url}/api/v1/notifications`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(await waiting.json()).toMatchObject({ deliveries: [], counts: { pending: 0, failed: 0, delivered: 17 } });
  });

  it('writes no secret to either log', () => {
    for (const r of replicas) {
      const logs = r.logs().join('\n');
      expect(logs).toContain('sending notifications');
      expect(logs).not.toContain(SECRET);
      expect(logs).not.toContain(PATH_TOKEN);
    }
  });
});
