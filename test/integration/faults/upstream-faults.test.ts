import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultUpstream, type FaultUpstream } from '../../helpers/fault-upstream.js';
import { startProxy, type Proxy } from '../../helpers/proxy.js';
import { ACCEPT, addImage, auditRows, getBlob, getManifest, isCached, OCI_MANIFEST, tempFiles, UPSTREAM, waitFor } from './support.js';

/**
 * Upstream faults a real registry cannot be made to produce on cue (cut-off bodies, wrong bytes, drips,
 * stalls), against the real proxy process. The proxy must never pass a short or wrong body off as complete,
 * never cache it, and recover on the next pull.
 */
describe('upstream faults', () => {
  let up: FaultUpstream;
  let proxy: Proxy;
  let dir: string;

  beforeAll(async () => {
    up = await startFaultUpstream();
    dir = await mkdtemp(join(tmpdir(), 'faults-upstream-'));
    proxy = await startProxy({
      upstreams: [{ name: UPSTREAM, url: up.url, idleTimeout: '1s', connectTimeout: '1s', retries: 0 }],
      dataDir: dir,
      extra: { log: { level: 'warn' } },
    });
  });

  afterAll(async () => {
    await proxy?.stop();
    await up?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('breaks the connection when the upstream dies mid-blob, caches nothing, and succeeds next time', async () => {
    const layer = randomBytes(2 * 1024 * 1024);
    const img = addImage(up, 'org/cut', '1', [layer]);
    up.setMode(img.layers[0]!, { kind: 'truncate', after: 700_000 });
    expect((await getManifest(proxy.url, 'org/cut', '1')).status).toBe(200);

    const broken = await getBlob(proxy.url, 'org/cut', img.layers[0]!);
    // Cut before the proxy sent a byte: an error answer; cut after: a broken body. Never a complete one.
    if (broken.status === 200) expect(broken.error, 'a short body must not look complete').toBeDefined();
    else expect([broken.status, JSON.parse(broken.body!).errors[0].code]).toEqual([502, 'UPSTREAM_UNAVAILABLE']);
    expect(broken.bytes).toBeUndefined();
    await waitFor(() => tempFiles(dir).length === 0);
    expect(isCached(dir, img.layers[0]!)).toBe(false);

    up.setMode(img.layers[0]!, { kind: 'ok' });
    const again = await getBlob(proxy.url, 'org/cut', img.layers[0]!);
    expect(again.bytes?.equals(layer)).toBe(true);
    await waitFor(() => isCached(dir, img.layers[0]!));
    expect(up.blobGets.get(img.layers[0]!)).toBe(2);
  });

  it('answers a clear 502, not a silently closed connection, when the upstream breaks off before the first byte', async () => {
    const layer = randomBytes(256 * 1024);
    const img = addImage(up, 'org/cut-early', '1', [layer]);
    up.setMode(img.layers[0]!, { kind: 'truncate', after: 0 });
    expect((await getManifest(proxy.url, 'org/cut-early', '1')).status).toBe(200);
    const broken = await getBlob(proxy.url, 'org/cut-early', img.layers[0]!);
    expect(broken.status).toBe(502);
    expect(JSON.parse(broken.body!).errors[0].code).toBe('UPSTREAM_UNAVAILABLE');
    await waitFor(() => tempFiles(dir).length === 0);
    expect(isCached(dir, img.layers[0]!)).toBe(false);
  });

  it('never serves bytes that do not match the digest as valid, does not cache them, and records why', async () => {
    const layer = randomBytes(512 * 1024);
    const img = addImage(up, 'org/forged', '1', [layer]);
    up.setMode(img.layers[0]!, { kind: 'wrong-bytes', bytes: randomBytes(layer.length) });
    expect((await getManifest(proxy.url, 'org/forged', '1')).status).toBe(200);

    const got = await getBlob(proxy.url, 'org/forged', img.layers[0]!);
    expect(got.error, 'the body must break off before it completes').toBeDefined();
    await waitFor(() => tempFiles(dir).length === 0);
    expect(isCached(dir, img.layers[0]!)).toBe(false);
    const rejected = auditRows(join(dir, 'portcullis.db'), "kind = 'upstream.blob.rejected' AND digest = ?", img.layers[0]);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]!.reasons).toMatch(/digest/);

    // A second client gets the same refusal, not a cached copy.
    const second = await getBlob(proxy.url, 'org/forged', img.layers[0]!);
    expect(second.bytes).toBeUndefined();
  });

  it('gives up on a stalled upstream after idleTimeout and keeps serving other blobs meanwhile', async () => {
    const stalled = randomBytes(256 * 1024);
    const fine = randomBytes(64 * 1024);
    const img = addImage(up, 'org/stall', '1', [stalled, fine]);
    up.setMode(img.layers[0]!, { kind: 'stall', after: 1000 });
    expect((await getManifest(proxy.url, 'org/stall', '1')).status).toBe(200);

    const started = Date.now();
    const pending = getBlob(proxy.url, 'org/stall', img.layers[0]!);
    const other = await getBlob(proxy.url, 'org/stall', img.layers[1]!);
    expect(other.bytes?.equals(fine)).toBe(true);
    const result = await pending;
    expect(result.error).toBeDefined();
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(isCached(dir, img.layers[0]!)).toBe(false);
  });

  it('answers an upstream that never responds with a clear 502 after idleTimeout', async () => {
    const layer = randomBytes(1024);
    const img = addImage(up, 'org/hang', '1', [layer]);
    up.setMode(img.layers[0]!, { kind: 'hang' });
    expect((await getManifest(proxy.url, 'org/hang', '1')).status).toBe(200);
    const res = await getBlob(proxy.url, 'org/hang', img.layers[0]!);
    expect(res.status).toBe(502);
    expect(JSON.parse(res.body!).errors[0].code).toBe('UPSTREAM_UNAVAILABLE');
  });

  it('lets a fast client finish while a slow client of the same dripping blob has not read anything', async () => {
    const layer = randomBytes(1024 * 1024);
    const img = addImage(up, 'org/drip', '1', [layer]);
    up.setMode(img.layers[0]!, { kind: 'drip', chunk: 128 * 1024, everyMs: 100 });
    expect((await getManifest(proxy.url, 'org/drip', '1')).status).toBe(200);

    // The slow client: headers received, body never read until the end of the test.
    const slow = await fetch(`${proxy.url}/v2/org/drip/blobs/${img.layers[0]}`);
    expect(slow.status).toBe(200);
    const fast = await getBlob(proxy.url, 'org/drip', img.layers[0]!);
    expect(fast.bytes?.equals(layer)).toBe(true);
    await waitFor(() => isCached(dir, img.layers[0]!));
    expect(up.blobGets.get(img.layers[0]!)).toBe(1);
    expect(Buffer.from(await slow.arrayBuffer()).equals(layer)).toBe(true);
  });
});

/**
 * An upstream that drips (a byte every few seconds resets any idle timeout) must not hold the proxy's
 * connections: every upstream request has a deadline, a request no client waits for any more is dropped, and
 * one slow repository cannot take every connection to its upstream.
 */
describe('slow upstreams', () => {
  const STRICT = 'strict.test';
  const NARROW = 'narrow.test';
  let up: FaultUpstream;
  let proxy: Proxy;
  let dir: string;

  /** A manifest that takes minutes to arrive, one byte every two seconds. */
  const addDripImage = (repo: string, tag: string) => {
    const img = addImage(up, repo, tag, [randomBytes(64)]);
    const bytes = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: img.config, size: 0 },
      layers: [],
      annotations: { tag },
    }));
    up.addManifest(repo, tag, { bytes, mediaType: OCI_MANIFEST, drip: { chunk: 1, everyMs: 2000 } });
  };

  beforeAll(async () => {
    up = await startFaultUpstream();
    dir = await mkdtemp(join(tmpdir(), 'faults-slow-'));
    proxy = await startProxy({
      upstreams: [
        { name: UPSTREAM, url: up.url, retries: 0 },
        { name: STRICT, url: up.url, retries: 0, metadataDeadline: '2s', blobMinRate: '64KiB', blobRateWindow: '1s' },
        { name: NARROW, url: up.url, retries: 0, metadataDeadline: '1s', maxConnectionsPerRepository: 1 },
      ],
      dataDir: dir,
      extra: { log: { level: 'warn' }, server: { workers: 1 } },
    });
  });

  afterAll(async () => {
    await proxy?.stop();
    await up?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('cuts a dripping manifest at its deadline with a 504 that says why, and frees the upstream request', async () => {
    addDripImage('org/drip-manifest', '1');
    const started = Date.now();
    const res = await getManifest(proxy.url, `${STRICT}/org/drip-manifest`, '1');
    expect(res.status).toBe(504);
    const error = (await res.json()).errors[0];
    expect(error.code).toBe('UPSTREAM_TIMEOUT');
    expect(error.message).toMatch(/manifest.*2 s/);
    expect(Date.now() - started).toBeLessThan(6_000);
    await waitFor(() => up.inFlight() === 0, 5_000);
  });

  it('keeps answering other repositories of an upstream while one repository drips, and drops what clients gave up on', async () => {
    for (let i = 0; i < 100; i++) addDripImage('org/slow', `t${i}`);
    addImage(up, 'org/fast', '1', [randomBytes(64)]);
    const clients = Array.from({ length: 100 }, () => new AbortController());
    const pulls = clients.map((c, i) =>
      fetch(`${proxy.url}/v2/org/slow/manifests/t${i}`, { headers: { accept: ACCEPT }, signal: c.signal }).catch(() => undefined),
    );
    // The slow repository holds every connection it may have…
    await waitFor(() => up.inFlight() >= 8, 10_000);
    // …and another repository of the same upstream is still answered at once.
    const fast = await getManifest(proxy.url, 'org/fast', '1', AbortSignal.timeout(5_000));
    expect(fast.status).toBe(200);

    // The clients give up: the upstream requests they waited for are dropped, not left to drip for hours.
    for (const c of clients) c.abort();
    await Promise.all(pulls);
    await waitFor(() => up.inFlight() === 0, 10_000);
    const again = await getManifest(proxy.url, 'org/fast', '1', AbortSignal.timeout(5_000));
    expect(again.status).toBe(200);
  });

  it('frees the upstream request when its only client disconnects mid-manifest', async () => {
    addDripImage('org/gone', '1');
    const client = new AbortController();
    const pull = fetch(`${proxy.url}/v2/org/gone/manifests/1`, { headers: { accept: ACCEPT }, signal: client.signal }).catch(() => undefined);
    await waitFor(() => (up.manifestGets.get('org/gone@1') ?? 0) > 0 && up.inFlight() > 0);
    client.abort();
    await pull;
    // Long before the upstream's deadline (the default, 30 s).
    await waitFor(() => up.inFlight() === 0, 5_000);
  });

  it('cuts a blob that arrives below the minimum rate, and lets one above it finish', async () => {
    const slowLayer = randomBytes(1024 * 1024);
    const fineLayer = randomBytes(1024 * 1024);
    const img = addImage(up, 'org/crawl', '1', [slowLayer, fineLayer]);
    up.setMode(img.layers[0]!, { kind: 'drip', chunk: 1024, everyMs: 100 });
    up.setMode(img.layers[1]!, { kind: 'drip', chunk: 128 * 1024, everyMs: 100 });
    expect((await getManifest(proxy.url, `${STRICT}/org/crawl`, '1')).status).toBe(200);

    const started = Date.now();
    const slow = await getBlob(proxy.url, `${STRICT}/org/crawl`, img.layers[0]!);
    expect(slow.error, 'a blob cut off must not look complete').toBeDefined();
    expect(Date.now() - started).toBeLessThan(8_000);
    await waitFor(() => up.inFlight() === 0, 5_000);
    expect(isCached(dir, img.layers[0]!)).toBe(false);

    const fine = await getBlob(proxy.url, `${STRICT}/org/crawl`, img.layers[1]!);
    expect(fine.bytes?.equals(fineLayer)).toBe(true);
  });

  it('queues a blob behind a healthy download of the same repository rather than failing it at the deadline', async () => {
    const big = randomBytes(3 * 1024 * 1024);
    const small = randomBytes(64 * 1024);
    const img = addImage(up, 'org/queue', '1', [big, small]);
    // About 2.5 s for the first layer, longer than the 1 s deadline; the repository may use one connection.
    up.setMode(img.layers[0]!, { kind: 'drip', chunk: 128 * 1024, everyMs: 100 });
    expect((await getManifest(proxy.url, `${NARROW}/org/queue`, '1')).status).toBe(200);
    const first = getBlob(proxy.url, `${NARROW}/org/queue`, img.layers[0]!);
    await waitFor(() => (up.blobGets.get(img.layers[0]!) ?? 0) > 0);
    const second = await getBlob(proxy.url, `${NARROW}/org/queue`, img.layers[1]!);
    expect(second.status, second.body).toBe(200);
    expect(second.bytes?.equals(small)).toBe(true);
    expect((await first).bytes?.equals(big)).toBe(true);
  });
});
