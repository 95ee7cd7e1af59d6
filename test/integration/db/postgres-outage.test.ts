import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../src/app.js';
import { pushImage, startRegistry, type PushedImage, type Registry } from '../../helpers/registry.js';
import { haveTools } from '../../helpers/tools.js';
import { havePostgres, startPostgres, type PgCluster } from '../../helpers/postgres.js';
import { queryColumn } from '../../helpers/db-query.js';
import { baseConfig, workspace, type Workspace } from '../admin/fixture.js';

/**
 * PostgreSQL stopped under load: /readyz says so, pulls fail closed with 503 UNAVAILABLE (never served
 * without their audit event), and once it is back pulls succeed again by themselves with the chain intact
 * and every served pull's event still there.
 */
const ACCEPT = 'application/vnd.oci.image.manifest.v1+json';

describe.skipIf(!haveTools(['docker-registry']) || !havePostgres())('PostgreSQL outage', () => {
  let registry: Registry;
  let cluster: PgCluster;
  let ws: Workspace;
  let app: App;
  let image: PushedImage;

  beforeAll(async () => {
    [registry, cluster] = await Promise.all([startRegistry(), startPostgres()]);
    image = await pushImage(registry.url, 'org/app', '1');
    ws = await workspace('pg-outage');
    await ws.write(baseConfig({ upstreams: [{ name: 'upstream.test', url: registry.url }], database: { url: await cluster.createDatabase() } }));
    app = await ws.open();
  }, 120_000);
  afterAll(async () => {
    await ws?.remove();
    await cluster?.destroy();
    await registry?.stop();
  });

  const pullManifest = (ref = '1') => request(app.handler).get(`/v2/upstream.test/org/app/manifests/${ref}`).set('Accept', ACCEPT);
  const pullLayer = () => request(app.handler).get(`/v2/upstream.test/org/app/blobs/${image.layers[0]!.digest}`);

  it('fails closed while the database is down and recovers by itself, losing no committed event', async () => {
    expect((await pullManifest()).status).toBe(200);
    expect((await pullLayer()).status).toBe(200);

    // Load: four clients pulling the manifest (by tag and digest) and a layer in a loop.
    const served = { manifest: 0, blob: 0 };
    const statuses = new Set<number>();
    let load = true;
    const client = async (i: number) => {
      while (load) {
        const res = i % 3 === 2 ? await pullLayer() : await pullManifest(i % 3 === 0 ? '1' : image.digest);
        statuses.add(res.status);
        if (res.status === 200) served[i % 3 === 2 ? 'blob' : 'manifest']++;
        else {
          expect(res.status, res.text).toBe(503);
          if (res.body?.errors) expect(res.body.errors[0].code).toBe('UNAVAILABLE');
        }
      }
    };
    const clients = [0, 1, 2, 3].map(client);
    await new Promise((r) => setTimeout(r, 300));
    await cluster.stop();

    const ready = await request(app.handler).get('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body.problems.join(' ')).toContain('database');
    const down = [await pullManifest(), await pullManifest(image.digest), await pullLayer()];
    for (const res of down) {
      expect(res.status, res.text).toBe(503);
      expect(res.body.errors[0].code).toBe('UNAVAILABLE');
    }
    await new Promise((r) => setTimeout(r, 300));

    await cluster.start();
    const deadline = Date.now() + 15_000;
    while ((await pullManifest()).status !== 200) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 300));
    load = false;
    await Promise.all(clients);
    expect(statuses).toContain(503);
    expect((await request(app.handler).get('/readyz')).status).toBe(200);
    expect((await pullLayer()).status).toBe(200);

    const verify = await request(app.handler).get('/api/v1/audit/verify').set('Authorization', `Bearer ${'audrey-auditor-5b2f8e1c'}`);
    expect(verify.body).toMatchObject({ ok: true, firstBroken: null });
    // Every pull that was served has its committed event (served pulls during load, plus the checks above).
    const [manifests] = await queryColumn<number>(app.config.database, `SELECT count(*) FROM audit_events WHERE kind = 'pull.manifest' AND status = 200`);
    const [blobs] = await queryColumn<number>(app.config.database, `SELECT count(*) FROM audit_events WHERE kind = 'pull.blob' AND status = 200`);
    expect(manifests).toBeGreaterThanOrEqual(served.manifest + 2);
    expect(blobs).toBeGreaterThanOrEqual(served.blob + 2);
  }, 60_000);
});
