import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skopeoCopy } from '../helpers/clients.js';
import { startFaultUpstream, type FaultUpstream } from '../helpers/fault-upstream.js';
import { startLoadBalancer, type LoadBalancer } from '../helpers/load-balancer.js';
import { havePostgres, startPostgres, type PgCluster } from '../helpers/postgres.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { pushImage, startRegistry, type Registry } from '../helpers/registry.js';
import { haveS3, startS3, type S3Store } from '../helpers/s3.js';
import { haveTools, waitUntil } from '../helpers/tools.js';
import { addImage } from '../integration/faults/support.js';
import { ACCEPT_ALL_MANIFESTS, removeTempDirs, sha256, tempDir, UPSTREAM } from './support.js';

const MiB = 1024 * 1024;
const SLOW = 'slow.test';
const skip = !haveTools(['docker-registry', 'skopeo', 'nginx']) || !havePostgres() || !haveS3();

/**
 * Stateless replicas: three, on one PostgreSQL database and one bucket (each with only its own spool folder),
 * behind nginx. Pulls through every replica, one upstream GET per blob whichever replica a client lands on, and
 * a replica SIGKILLed mid-download: the client's retry gets the whole, correct blob and the bucket holds
 * nothing partial.
 */
describe.skipIf(skip)('three stateless replicas on PostgreSQL and one bucket', () => {
  let pgc: PgCluster;
  let s3: S3Store;
  let prefix: string;
  let registry: Registry;
  let slow: FaultUpstream;
  let replicas: Proxy[];
  let lb: LoadBalancer;
  let dbUrl: string;
  /** Blobs pulled by the tests: digest → path of a blob GET. */
  const pulled = new Map<string, string>();

  async function get(base: string, path: string): Promise<{ status: number; body: Buffer }> {
    const agent = new Agent({ pipelining: 0 });
    try {
      const res = await request(`${base}${path}`, { headers: { accept: ACCEPT_ALL_MANIFESTS }, dispatcher: agent, headersTimeout: 30_000 });
      return { status: res.statusCode, body: Buffer.from(await res.body.arrayBuffer()) };
    } finally {
      await agent.close();
    }
  }

  beforeAll(async () => {
    [pgc, s3] = await Promise.all([startPostgres(), startS3()]);
    dbUrl = await pgc.createDatabase('s3replicas');
    registry = await startRegistry({ dir: await tempDir('registry') });
    slow = await startFaultUpstream();
    const bucket = s3.section();
    prefix = bucket.prefix;
    replicas = await Promise.all(
      [0, 1, 2].map(async () =>
        startProxy({
          upstreams: [{ name: UPSTREAM, url: registry.url }, { name: SLOW, url: slow.url }],
          dataDir: await tempDir('replica'),
          env: { ...s3.env, E2E_DATABASE_URL: dbUrl },
          extra: {
            database: { urlEnv: 'E2E_DATABASE_URL' },
            storage: { path: './spool', s3: bucket, maxSize: '40MiB', protectRecent: '1s' },
            server: { workers: 1 },
          },
        }),
      ),
    );
    lb = await startLoadBalancer(replicas.map((r) => r.url));
  }, 180_000);

  afterAll(async () => {
    await lb?.stop();
    for (const r of replicas ?? []) await r.stop();
    await registry?.stop();
    await slow?.close();
    await s3?.destroy();
    await pgc?.destroy();
    await removeTempDirs();
  });

  it('serves skopeo through the load balancer, and sixteen clients of one blob on three replicas make one upstream GET', async () => {
    await pushImage(registry.url, 'org/app', '1', { layers: 2, layerSize: 2 * MiB });
    await skopeoCopy(`${lb.host}/${UPSTREAM}/org/app:1`, await tempDir('copy'));
    const fan = await pushImage(registry.url, 'org/fan', '1', { layers: 1, layerSize: 16 * MiB });
    for (const r of replicas) expect((await get(r.url, `/v2/${UPSTREAM}/org/fan/manifests/1`)).status).toBe(200);
    const layer = fan.layers[0]!;
    pulled.set(layer.digest, `/v2/${UPSTREAM}/org/fan/blobs/${layer.digest}`);
    const results = await Promise.all(
      Array.from({ length: 16 }, (_, i) => get(i < 3 ? replicas[i]!.url : lb.url, `/v2/${UPSTREAM}/org/fan/blobs/${layer.digest}`)),
    );
    for (const r of results) expect(sha256(r.body)).toBe(layer.digest);
    expect(await registry.countRequests(`/blobs/${layer.digest}`, 'GET')).toBe(1);
    // Every replica serves it from the bucket now.
    for (const r of replicas) expect(sha256((await get(r.url, `/v2/${UPSTREAM}/org/fan/blobs/${layer.digest}`)).body)).toBe(layer.digest);
    expect(await registry.countRequests(`/blobs/${layer.digest}`, 'GET')).toBe(1);
  }, 120_000);

  it('gives a client whose replica was SIGKILLed mid-download the whole blob on retry, and leaves nothing partial in the bucket', async () => {
    const bytes = randomBytes(8 * MiB);
    const image = addImage(slow, 'org/slow', '1', [bytes]);
    const digest = image.layers[0]!;
    pulled.set(digest, `/v2/${SLOW}/org/slow/blobs/${digest}`);
    slow.setMode(digest, { kind: 'drip', chunk: 128 * 1024, everyMs: 50 });
    const victim = replicas[2]!;
    expect((await get(victim.url, `/v2/${SLOW}/org/slow/manifests/1`)).status).toBe(200);

    const agent = new Agent({ pipelining: 0 });
    const res = await request(`${victim.url}/v2/${SLOW}/org/slow/blobs/${digest}`, { headersTimeout: 30_000, dispatcher: agent });
    expect(res.statusCode).toBe(200);
    agent.on('connectionError', () => {});
    res.body.on('error', () => {});
    let received = 0;
    const reading = (async () => {
      for await (const chunk of res.body) received += (chunk as Buffer).length;
    })().then(() => 'complete', (err: Error) => err);
    await waitUntil('some bytes', async () => received > MiB, 30_000);
    expect(await victim.stop('SIGKILL')).toBe('SIGKILL');
    expect(await reading).toBeInstanceOf(Error);
    expect(received).toBeLessThan(bytes.length);
    await agent.destroy().catch(() => {});

    slow.setMode(digest, { kind: 'ok' });
    const retry = await get(lb.url, `/v2/${SLOW}/org/slow/blobs/${digest}`);
    expect(retry.status).toBe(200);
    expect(retry.body.equals(bytes)).toBe(true);

    // Every object in the bucket is a whole blob under its own digest.
    const client = s3.client();
    await waitUntil('the blob uploaded', async () => (await s3.keys(`${prefix}blobs/sha256/${digest.slice(7)}`)).length === 1, 30_000);
    for (const key of await s3.keys(prefix)) {
      const obj = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
      const hex = createHash('sha256').update(await obj.Body!.transformToByteArray()).digest('hex');
      expect(key).toBe(`${prefix}blobs/sha256/${hex}`);
    }
  }, 120_000);

  it('evicts past storage.maxSize from the one bucket, and every replica fetches an evicted blob again', async () => {
    const app = await pushImage(registry.url, 'org/old', '1', { layers: 1, layerSize: 6 * MiB });
    expect((await get(replicas[0]!.url, `/v2/${UPSTREAM}/org/old/manifests/1`)).status).toBe(200);
    expect(sha256((await get(replicas[0]!.url, `/v2/${UPSTREAM}/org/old/blobs/${app.layers[0]!.digest}`)).body)).toBe(app.layers[0]!.digest);
    pulled.set(app.layers[0]!.digest, `/v2/${UPSTREAM}/org/old/blobs/${app.layers[0]!.digest}`);
    await new Promise((r) => setTimeout(r, 1_100)); // out of the protection window
    const next = await pushImage(registry.url, 'org/next', '1', { layers: 1, layerSize: 16 * MiB });
    expect((await get(replicas[1]!.url, `/v2/${UPSTREAM}/org/next/manifests/1`)).status).toBe(200);
    expect(sha256((await get(replicas[1]!.url, `/v2/${UPSTREAM}/org/next/blobs/${next.layers[0]!.digest}`)).body)).toBe(next.layers[0]!.digest);

    // The bucket and the shared index agree, and hold at most maxSize.
    const rows = async () => {
      const c = new pg.Client({ connectionString: dbUrl });
      await c.connect();
      try {
        return (await c.query('SELECT digest, size FROM blobs')).rows as Array<{ digest: string; size: string | number }>;
      } finally {
        await c.end();
      }
    };
    await waitUntil('the new blob uploaded and accounted', async () => (await rows()).some((r) => r.digest === next.layers[0]!.digest), 30_000);
    await waitUntil('evicted down to maxSize', async () => {
      const total = (await rows()).reduce((n, r) => n + Number(r.size), 0);
      return total <= 40 * MiB;
    }, 30_000);
    // Every blob the index accounts for is in the bucket; an evicted one is gone from both.
    const keys = new Set((await s3.keys(`${prefix}blobs/`)).map((k) => `sha256:${k.slice(k.lastIndexOf('/') + 1)}`));
    for (const r of await rows()) expect(keys.has(r.digest), r.digest).toBe(true);
    for (const d of pulled.keys()) if (!(await rows()).some((r) => r.digest === d)) expect(keys.has(d), d).toBe(false);
    const cached = new Set((await rows()).map((r) => r.digest));
    expect(cached.has(next.layers[0]!.digest)).toBe(true);
    const evicted = [...pulled.keys()].filter((d) => !cached.has(d));
    expect(evicted.length).toBeGreaterThan(0);

    // Any replica fetches an evicted blob again, whole, and it is back in the bucket.
    for (const [i, digest] of evicted.entries()) {
      const again = await get(replicas[i % 2]!.url, pulled.get(digest)!);
      expect(sha256(again.body)).toBe(digest);
      await waitUntil('cached again', async () => (await s3.keys(`${prefix}blobs/sha256/${digest.slice(7)}`)).length === 1, 30_000);
    }
  }, 120_000);
});
