import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ctrPull, skopeoCopy, startContainerd, writeHostsToml, type Containerd } from '../helpers/clients.js';
import { startLoadBalancer, type LoadBalancer } from '../helpers/load-balancer.js';
import { havePostgres, startPostgres, type PgCluster } from '../helpers/postgres.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { pushImage, startRegistry, type PushedImage, type Registry } from '../helpers/registry.js';
import { haveRoot, haveTools, waitUntil } from '../helpers/tools.js';
import { ACCEPT_ALL_MANIFESTS, removeTempDirs, sha256, tempDir, UPSTREAM } from './support.js';

/**
 * The deployment the README describes: three replicas on one PostgreSQL database and one shared store
 * directory, behind nginx as the load balancer. Real clients pull through nginx; one replica is SIGKILLed
 * under load and pulls that start afterwards still succeed; a policy change on one replica holds on the
 * others within a second; PostgreSQL is stopped and started under load; the one audit chain verifies.
 */
const ADMIN = 'e2e-admin-5e1c9a7f3b';
const OPEN = [{ name: 'open', match: [`${UPSTREAM}/**`], mode: 'allow' }];
const skip = !haveTools(['docker-registry', 'skopeo', 'nginx']) || !havePostgres();

describe.skipIf(skip)('three replicas on PostgreSQL behind a load balancer', () => {
  let pgc: PgCluster;
  let dbUrl: string;
  let registry: Registry;
  let store: string;
  let replicas: Proxy[];
  let lb: LoadBalancer;
  let image: PushedImage;

  const auth = { authorization: `Bearer ${ADMIN}` };
  async function get(base: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer }> {
    const agent = new Agent({ pipelining: 0 });
    try {
      const res = await request(`${base}${path}`, { headers: { accept: ACCEPT_ALL_MANIFESTS, ...headers }, dispatcher: agent, headersTimeout: 30_000 });
      return { status: res.statusCode, body: Buffer.from(await res.body.arrayBuffer()) };
    } finally {
      await agent.close();
    }
  }
  /** A docker-like pull of org/app:1 through the load balancer; throws on any failure. */
  async function pull(): Promise<void> {
    const m = await get(lb.url, `/v2/${UPSTREAM}/org/app/manifests/1`);
    if (m.status !== 200) throw new Error(`manifest ${m.status} ${m.body.toString().slice(0, 200)}`);
    for (const l of image.layers) {
      const b = await get(lb.url, `/v2/${UPSTREAM}/org/app/blobs/${l.digest}`);
      if (b.status !== 200 || sha256(b.body) !== l.digest) throw new Error(`blob ${b.status}`);
    }
  }
  const events = async (): Promise<number> => {
    const client = new pg.Client({ connectionString: dbUrl });
    await client.connect();
    try {
      return Number((await client.query('SELECT count(*) AS n FROM audit_events')).rows[0].n);
    } finally {
      await client.end();
    }
  };

  beforeAll(async () => {
    pgc = await startPostgres();
    dbUrl = await pgc.createDatabase('replicas');
    registry = await startRegistry({ dir: await tempDir('registry') });
    image = await pushImage(registry.url, 'org/app', '1', { layers: 2, layerSize: 2 * 1024 * 1024 });
    store = await mkdtemp(join(tmpdir(), 'e2e-shared-store-'));
    // Started together: the migrations run once whoever gets there first.
    replicas = await Promise.all(
      [0, 1, 2].map(async () =>
        startProxy({
          upstreams: [{ name: UPSTREAM, url: registry.url }],
          policies: OPEN,
          dataDir: await tempDir('replica'),
          env: { E2E_DATABASE_URL: dbUrl },
          extra: {
            database: { urlEnv: 'E2E_DATABASE_URL' },
            storage: { path: store },
            server: { workers: 1 },
            auth: { tokens: [{ name: 'alice', role: 'admin', tokenSha256: createHash('sha256').update(ADMIN).digest('hex') }] },
          },
        }),
      ),
    );
    lb = await startLoadBalancer(replicas.map((r) => r.url));
  });

  afterAll(async () => {
    await lb?.stop();
    for (const r of replicas ?? []) await r.stop();
    await registry?.stop();
    await pgc?.destroy();
    await rm(store, { recursive: true, force: true });
    await removeTempDirs();
  });

  it('skopeo copies through the load balancer, and sixteen clients of one uncached blob make one upstream GET', async () => {
    await skopeoCopy(`${lb.host}/${UPSTREAM}/org/app:1`, await tempDir('copy'));
    const other = await pushImage(registry.url, 'org/fan', '1', { layers: 1, layerSize: 8 * 1024 * 1024 });
    expect((await get(lb.url, `/v2/${UPSTREAM}/org/fan/manifests/1`)).status).toBe(200);
    const layer = other.layers[0]!;
    const results = await Promise.all(Array.from({ length: 16 }, () => get(lb.url, `/v2/${UPSTREAM}/org/fan/blobs/${layer.digest}`)));
    for (const r of results) expect(sha256(r.body)).toBe(layer.digest);
    expect(await registry.countRequests(`/blobs/${layer.digest}`, 'GET')).toBe(1);
    const served = replicas.map((r) => r.jsonLogs().filter((l) => l.msg === 'request' && String(l.path).includes(layer.digest)).length);
    expect(served.filter((n) => n > 0).length).toBe(3);
  });

  it.skipIf(!haveTools(['containerd', 'ctr']) || !haveRoot())('containerd pulls through the load balancer as a mirror', async () => {
    let containerd: Containerd | undefined;
    try {
      containerd = await startContainerd({ dir: await tempDir('containerd') });
      const hostsDir = await writeHostsToml(join(containerd.dir, 'hosts.d'), UPSTREAM, lb.url);
      await ctrPull(containerd.socket, `${UPSTREAM}/org/app:1`, { hostsDir });
    } finally {
      await containerd?.stop();
    }
  });

  it('applies a policy change made on one replica on the others within a second', async () => {
    const put = await fetch(`${replicas[0]!.url}/api/v1/policy`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ policies: [{ name: 'closed', match: [`${UPSTREAM}/org/closed`], mode: 'deny' }, ...OPEN] }),
    });
    expect(put.status).toBe(200);
    const changed = Date.now();
    for (const r of replicas.slice(1)) {
      await waitUntil('the change on another replica', async () => (await get(r.url, `/v2/${UPSTREAM}/org/closed/manifests/1`)).status === 403, 1_000);
    }
    expect(Date.now() - changed).toBeLessThan(2_000);
  });

  it('keeps serving when a replica is SIGKILLed under load: pulls that start after the kill all succeed', async () => {
    let running = true;
    const outcomes: Array<{ startedAt: number; ok: boolean; error?: string }> = [];
    const loops = Array.from({ length: 4 }, async () => {
      while (running) {
        const startedAt = Date.now();
        outcomes.push(await pull().then(() => ({ startedAt, ok: true }), (e: Error) => ({ startedAt, ok: false, error: e.message })));
      }
    });
    await new Promise((r) => setTimeout(r, 1_000));
    const killedAt = Date.now();
    expect(await replicas[2]!.stop('SIGKILL')).toBe('SIGKILL');
    await new Promise((r) => setTimeout(r, 2_000));
    running = false;
    await Promise.all(loops);
    const after = outcomes.filter((o) => o.startedAt > killedAt + 50);
    expect(after.length).toBeGreaterThan(5);
    expect(after.filter((o) => !o.ok)).toEqual([]);
    for (const r of replicas.slice(0, 2)) {
      const verify = await fetch(`${r.url}/api/v1/audit/verify`, { headers: auth });
      expect(((await verify.json()) as { ok: boolean }).ok).toBe(true);
    }
  });

  it('fails closed while PostgreSQL is down, recovers by itself, and loses no committed event', async () => {
    const live = replicas.slice(0, 2);
    await pull();
    const before = await events();
    await pgc.stop();
    try {
      for (const r of live) {
        await waitUntil('readyz fails', async () => (await get(r.url, '/readyz')).status === 503, 10_000);
        const m = await get(r.url, `/v2/${UPSTREAM}/org/app/manifests/1`);
        expect(m.status).toBe(503);
        expect(JSON.parse(m.body.toString()).errors[0].code).toBe('UNAVAILABLE');
      }
    } finally {
      await pgc.start();
    }
    for (const r of live) await waitUntil('readyz again', async () => (await get(r.url, '/readyz')).status === 200, 20_000);
    await pull();
    expect(await events()).toBeGreaterThan(before);
    for (const r of live) {
      const verify = await fetch(`${r.url}/api/v1/audit/verify`, { headers: auth });
      expect(((await verify.json()) as { ok: boolean }).ok).toBe(true);
    }
  });
});
