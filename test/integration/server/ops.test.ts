import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { mkdtempSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../../src/config/load.js';
import { createApp, type App } from '../../../src/app.js';
import { silentLogger } from '../../../src/logger.js';
import { pushImage, startRegistry, type PushedImage, type Registry } from '../../helpers/registry.js';
import { haveTools } from '../../helpers/tools.js';

/** Health, readiness and Prometheus metrics after real pulls through the app (real registry, SQLite, store). */
describe.skipIf(!haveTools(['docker-registry']))('operations endpoints', () => {
  let registry: Registry;
  let app: App;
  let image: PushedImage;
  const dir = mkdtempSync(join(tmpdir(), 'ops-'));
  const accept = 'application/vnd.oci.image.manifest.v1+json';
  const auditor = 'auditor-secret';

  beforeAll(async () => {
    registry = await startRegistry();
    image = await pushImage(registry.url, 'org/app', '1');
    await pushImage(registry.url, 'blocked/app', '1');
    const config = parseConfig(
      {
        listen: '127.0.0.1:0',
        storage: { maxSize: '1GiB' },
        auth: { tokens: [{ name: 'audrey', role: 'auditor', tokenSha256: createHash('sha256').update(auditor).digest('hex') }] },
        upstreams: [{ name: 'upstream.test', url: registry.url }],
        policies: [
          { name: 'no-blocked', match: ['upstream.test/blocked/**'], mode: 'deny' },
          { name: 'open', match: ['**'], mode: 'allow' },
        ],
      },
      join(dir, 'config.json'),
    );
    app = await createApp(config, { log: silentLogger, maintenance: false });
  });

  afterAll(async () => {
    await app?.close();
    await registry?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers /healthz and /readyz', async () => {
    expect((await request(app.handler).get('/healthz')).status).toBe(200);
    const ready = await request(app.handler).get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe('ready');
  });

  it('counts decisions by outcome and rule, cache hits and misses, bytes, and upstream requests', async () => {
    const path = '/v2/upstream.test/org/app/manifests/1';
    expect((await request(app.handler).get(path).set('Accept', accept)).status).toBe(200);
    expect((await request(app.handler).get(`/v2/upstream.test/org/app/manifests/${image.digest}`).set('Accept', accept)).status).toBe(200);
    expect((await request(app.handler).get('/v2/upstream.test/blocked/app/manifests/1').set('Accept', accept)).status).toBe(403);
    const blob = await request(app.handler).get(`/v2/upstream.test/org/app/blobs/${image.layers[0]!.digest}`).buffer(true);
    expect(blob.status).toBe(200);

    // The cache commit (and its fetched-bytes count) lands just after the client has its last byte.
    let res = await request(app.handler).get('/metrics');
    for (let i = 0; i < 40 && !res.text.includes('portcullis_upstream_bytes_fetched_total{'); i++) {
      await new Promise((r) => setTimeout(r, 50));
      res = await request(app.handler).get('/metrics');
    }
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = res.text;
    const value = (series: string): number => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      return line ? Number(line.slice(series.length + 1)) : NaN;
    };
    expect(value('portcullis_decisions_total{kind="manifest",outcome="allow",rule="open"}')).toBe(2);
    expect(value('portcullis_decisions_total{kind="manifest",outcome="deny",rule="no-blocked"}')).toBe(1);
    expect(value('portcullis_cache_requests_total{kind="manifest",result="miss"}')).toBeGreaterThanOrEqual(1);
    expect(value('portcullis_cache_requests_total{kind="manifest",result="hit"}')).toBeGreaterThanOrEqual(1);
    expect(value('portcullis_cache_requests_total{kind="blob",result="miss"}')).toBe(1);
    expect(value('portcullis_bytes_served_total{kind="blob"}')).toBe(image.layers[0]!.size);
    expect(value('portcullis_upstream_bytes_fetched_total{upstream="upstream.test"}')).toBe(image.layers[0]!.size);
    expect(value('portcullis_upstream_down{upstream="upstream.test"}')).toBe(0);
    expect(text).toMatch(/^portcullis_upstream_requests_total\{method="GET",status="200",upstream="upstream\.test"\} \d+$/m);
    expect(text).toMatch(/^portcullis_upstream_request_seconds_count\{upstream="upstream\.test"\} \d+$/m);
    expect(text).toMatch(/^# TYPE portcullis_verification_seconds histogram$/m);
  });

  it('exposes process metrics, the build, the store size against its limit and the policy version', async () => {
    const text = (await request(app.handler).get('/metrics')).text;
    const value = (series: string): number => Number(text.split('\n').find((l) => l.startsWith(`${series} `))?.split(' ')[1]);
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds [\d.e-]+$/m);
    expect(value(`portcullis_build_info{node="${process.version}",version="0.1.0"}`)).toBe(1);
    // The earlier test cached the layer and the config blob.
    expect(value('portcullis_store_bytes')).toBeGreaterThanOrEqual(image.layers[0]!.size);
    expect(value('portcullis_store_max_bytes')).toBe(1024 ** 3);
    expect(value('portcullis_policy_active_version')).toBe(1);
  });

  it('reports the audit chain once it is verified: absent before, intact, then broken after tampering', async () => {
    const scrape = async () => (await request(app.handler).get('/metrics')).text;
    expect(await scrape()).not.toMatch(/portcullis_audit_chain/);
    const verify = async () => request(app.handler).get('/api/v1/audit/verify').set('Authorization', `Bearer ${auditor}`);
    const before = Date.now() / 1000;
    expect((await verify()).body.ok).toBe(true);
    let text = await scrape();
    expect(text).toMatch(/^portcullis_audit_chain_intact 1$/m);
    const checkedAt = Number(/^portcullis_audit_chain_last_check_timestamp_seconds (\S+)$/m.exec(text)?.[1]);
    expect(checkedAt).toBeGreaterThanOrEqual(Math.floor(before));
    expect(checkedAt).toBeLessThanOrEqual(Date.now() / 1000);

    const file = new Database(app.config.database.path!);
    file.exec('DROP TRIGGER audit_events_no_update');
    file.exec(`UPDATE audit_events SET decision = 'allow' WHERE id = (SELECT MIN(id) FROM audit_events WHERE decision = 'deny')`);
    file.close();
    expect((await verify()).body.ok).toBe(false);
    text = await scrape();
    expect(text).toMatch(/^portcullis_audit_chain_intact 0$/m);
  });
});
