import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultUpstream, type FaultUpstream } from '../../helpers/fault-upstream.js';
import { startProxy, type Proxy } from '../../helpers/proxy.js';
import { haveS3, startS3, type S3Store } from '../../helpers/s3.js';
import { addImage, getBlob, getManifest, UPSTREAM, waitFor } from './support.js';

const ADMIN = 's3-faults-admin-91c2';

/**
 * On an S3 store, as on a folder: a short or wrong upstream body is never passed off as complete (the last byte
 * waits for the digest) and never lands in the bucket; clients joining a download in progress get the same
 * bytes; a purge removes the object and the next pull fetches it again.
 */
describe.skipIf(!haveS3())('upstream faults on an S3 store', () => {
  let up: FaultUpstream;
  let s3: S3Store;
  let proxy: Proxy;
  let dir: string;
  let prefix: string;

  beforeAll(async () => {
    [up, s3] = await Promise.all([startFaultUpstream(), startS3()]);
    dir = await mkdtemp(join(tmpdir(), 'faults-s3-'));
    const bucket = s3.section();
    prefix = bucket.prefix;
    proxy = await startProxy({
      upstreams: [{ name: UPSTREAM, url: up.url, idleTimeout: '1s', connectTimeout: '1s', retries: 0 }],
      dataDir: dir,
      env: s3.env,
      extra: {
        storage: { path: './spool', s3: bucket },
        log: { level: 'warn' },
        auth: { pull: 'anonymous', tokens: [{ name: 'alice', role: 'admin', tokenSha256: createHash('sha256').update(ADMIN).digest('hex') }] },
      },
    });
  }, 120_000);

  afterAll(async () => {
    await proxy?.stop();
    await up?.close();
    await s3?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  const inBucket = async (digest: string) => (await s3.keys(`${prefix}blobs/sha256/${digest.slice(7)}`)).length === 1;
  const spoolFiles = () => readdirSync(join(dir, 'spool', 'tmp'));

  it('withholds the last byte of a body one byte short, and stores nothing of it', async () => {
    const layer = randomBytes(2 * 1024 * 1024);
    const img = addImage(up, 'org/short', '1', [layer]);
    up.setMode(img.layers[0]!, { kind: 'truncate', after: layer.length - 1 });
    expect((await getManifest(proxy.url, 'org/short', '1')).status).toBe(200);
    const broken = await getBlob(proxy.url, 'org/short', img.layers[0]!);
    expect(broken.bytes, 'a short body must not look complete').toBeUndefined();
    await waitFor(() => spoolFiles().length === 0);
    expect(await inBucket(img.layers[0]!)).toBe(false);
  });

  it('never stores bytes that do not match the digest', async () => {
    const layer = randomBytes(3 * 1024 * 1024);
    const img = addImage(up, 'org/forged', '1', [layer]);
    up.setMode(img.layers[0]!, { kind: 'wrong-bytes', bytes: randomBytes(layer.length) });
    expect((await getManifest(proxy.url, 'org/forged', '1')).status).toBe(200);
    const got = await getBlob(proxy.url, 'org/forged', img.layers[0]!);
    expect(got.bytes).toBeUndefined();
    await waitFor(() => spoolFiles().length === 0);
    expect(await inBucket(img.layers[0]!)).toBe(false);
  });

  it('gives a client that joins a download in progress the same bytes from one upstream GET, then caches it', async () => {
    const layer = randomBytes(4 * 1024 * 1024);
    const img = addImage(up, 'org/drip', '1', [layer]);
    up.setMode(img.layers[0]!, { kind: 'drip', chunk: 256 * 1024, everyMs: 40 });
    expect((await getManifest(proxy.url, 'org/drip', '1')).status).toBe(200);
    const first = getBlob(proxy.url, 'org/drip', img.layers[0]!);
    await new Promise((r) => setTimeout(r, 250));
    const second = getBlob(proxy.url, 'org/drip', img.layers[0]!);
    for (const got of await Promise.all([first, second])) expect(got.bytes?.equals(layer)).toBe(true);
    expect(up.blobGets.get(img.layers[0]!)).toBe(1);
    await waitFor(() => inBucket(img.layers[0]!), 20_000);
  });

  it('purges a blob from the bucket, and the next pull fetches it again', async () => {
    const layer = randomBytes(2 * 1024 * 1024);
    const img = addImage(up, 'org/purged', '1', [layer]);
    expect((await getManifest(proxy.url, 'org/purged', '1')).status).toBe(200);
    expect((await getBlob(proxy.url, 'org/purged', img.layers[0]!)).bytes?.equals(layer)).toBe(true);
    await waitFor(() => inBucket(img.layers[0]!), 20_000);
    const res = await fetch(`${proxy.url}/api/v1/cache/purge`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ digest: img.layers[0] }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { purged: { files: number } }).purged.files).toBe(1);
    expect(await inBucket(img.layers[0]!)).toBe(false);
    expect((await getBlob(proxy.url, 'org/purged', img.layers[0]!)).bytes?.equals(layer)).toBe(true);
    expect(up.blobGets.get(img.layers[0]!)).toBe(2);
  });
});
