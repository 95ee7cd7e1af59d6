import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultUpstream, type FaultUpstream } from '../../helpers/fault-upstream.js';
import { startProxy, type Proxy } from '../../helpers/proxy.js';
import { addImage, auditRows, getBlob, getManifest, isCached, tempFiles, UPSTREAM, waitFor } from './support.js';

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
    expect(broken.status).toBe(200);
    expect(broken.error, 'a short body must not look complete').toBeDefined();
    expect(broken.bytes).toBeUndefined();
    await waitFor(() => tempFiles(dir).length === 0);
    expect(isCached(dir, img.layers[0]!)).toBe(false);

    up.setMode(img.layers[0]!, { kind: 'ok' });
    const again = await getBlob(proxy.url, 'org/cut', img.layers[0]!);
    expect(again.bytes?.equals(layer)).toBe(true);
    await waitFor(() => isCached(dir, img.layers[0]!));
    expect(up.blobGets.get(img.layers[0]!)).toBe(2);
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
