import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, fetch as undiciFetch, type RequestInit } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditRows } from '../helpers/audit.js';
import { ctrContentDigests, ctrPull, readCopiedBlob, readCopiedImage, skopeoCopy, startContainerd, type Containerd } from '../helpers/clients.js';
import { startOffloadNginx, type OffloadNginx } from '../helpers/offload-nginx.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { pushImage, startRegistry, type PushedImage, type Registry } from '../helpers/registry.js';
import { haveRoot, haveTools, waitUntil } from '../helpers/tools.js';
import { expectOciError, removeTempDirs, tempDir, UPSTREAM } from './support.js';

/**
 * nginx in front with examples/nginx/portcullis.conf and storage.offload.xAccelRedirect: the proxy decides and
 * audits, nginx sends cached layers from the store. Clients get the same bytes and the audit log reads as
 * without nginx; a denied blob is never handed off, the store is not readable from outside, and a blob whose
 * file is gone by the time nginx looks is streamed by the proxy instead of answered 404.
 */
const skip = !haveTools(['docker-registry', 'skopeo', 'containerd', 'ctr', 'nginx', 'openssl']) || !haveRoot();
const MiB = 1024 * 1024;
const ADMIN_TOKEN = 'e2e-offload-admin-7c1d';
const PREFIX = '/_portcullis/store/';

describe.skipIf(skip)('nginx in front, serving cached blobs', () => {
  let registry: Registry;
  let proxy: Proxy;
  let direct: Proxy;
  let nginx: OffloadNginx;
  let containerd: Containerd;
  let agent: Agent;
  let image: PushedImage;

  const proxyOptions = async (name: string, extraStorage: Record<string, unknown>) => ({
    upstreams: [{ name: UPSTREAM, url: registry.url, tagTtl: '1h' }],
    policies: [
      { name: 'blocked', match: [`${UPSTREAM}/blocked/**`], mode: 'deny' },
      { name: 'open', match: [`${UPSTREAM}/org/**`], mode: 'allow' },
    ],
    dataDir: await tempDir(name),
    extra: {
      storage: { path: './store', ...extraStorage },
      server: { trustedProxies: ['127.0.0.1'] },
      auth: { pull: 'anonymous', tokens: [{ name: 'alice', role: 'admin', tokenSha256: createHash('sha256').update(ADMIN_TOKEN).digest('hex') }] },
    },
  });
  const get = async (path: string, init: RequestInit = {}) => {
    const res = await undiciFetch(`${nginx.url}${path}`, { ...init, dispatcher: agent });
    return { res, bytes: Buffer.from(await res.arrayBuffer()) };
  };
  const storeFile = (p: Proxy, digest: string) => join(p.dataDir, 'store', 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7));
  const blobPath = (repo: string, digest: string) => `/v2/${UPSTREAM}/${repo}/blobs/${digest}`;
  let marks = 0;
  /**
   * Access-log lines of GETs of `path`, as [who sent the body, status, body bytes]. A request that completes
   * after the ones asked about is logged first, so their lines are all written (nginx runs one worker here).
   */
  const served = async (path: string) => {
    const mark = `/healthz?mark=${++marks}`;
    await get(mark);
    await waitUntil(`access log line of ${mark}`, async () => (await nginx.accessLog()).some((l) => l.startsWith(`${mark} `)));
    return (await nginx.accessLog()).map((l) => l.split(' ')).filter(([requestUri]) => requestUri === path).map(([, uri, status, bytes]) => [uri!.startsWith(PREFIX) ? 'nginx' : 'proxy', Number(status), Number(bytes)]);
  };
  const pullEvents = (p: Proxy) =>
    auditRows(join(p.dataDir, 'portcullis.db'), "kind LIKE 'pull.%'")
      .map((r) => JSON.stringify([r.kind, r.client, r.repository, r.reference, r.digest, r.decision, r.status, r.bytes, r.cache_hit]))
      .sort();

  beforeAll(async () => {
    registry = await startRegistry({ dir: await tempDir('registry') });
    image = await pushImage(registry.url, 'org/app', '1', { layers: 3, layerSize: 2 * MiB });
    await pushImage(registry.url, 'blocked/app', '1', { layers: [image.layers[0]!.bytes] });
    proxy = await startProxy(await proxyOptions('offload', { offload: { xAccelRedirect: PREFIX } }));
    direct = await startProxy(await proxyOptions('direct', {}));
    nginx = await startOffloadNginx({ backend: proxy.url, storePath: join(proxy.dataDir, 'store') });
    agent = new Agent({ connect: { ca: nginx.ca } });
    containerd = await startContainerd({ dir: await tempDir('containerd') });
  });

  afterAll(async () => {
    await agent?.close();
    await containerd?.stop();
    await nginx?.stop();
    await proxy?.stop();
    await direct?.stop();
    await registry?.stop();
    await removeTempDirs();
  });

  it('skopeo gets the same bytes through nginx, cached layers sent by nginx, and the audit log reads as without it', async () => {
    for (const [p, host] of [[proxy, nginx.host], [direct, direct.host]] as const) {
      for (const round of ['cold', 'warm']) {
        const dest = await tempDir(`skopeo-${round}`);
        await skopeoCopy(`${host}/${UPSTREAM}/org/app:1`, dest);
        const got = await readCopiedImage(dest);
        expect(got.manifestBytes.equals(image.manifest), `${p.url} ${round}`).toBe(true);
        for (const layer of image.layers) expect((await readCopiedBlob(dest, layer.digest)).equals(layer.bytes)).toBe(true);
        // Downloads are committed to the store (fsync, rename) just after their last byte went out.
        await waitUntil('the layers in the store', async () => image.layers.every((l) => existsSync(storeFile(p, l.digest))));
      }
    }
    for (const layer of image.layers) {
      expect(await served(blobPath('org/app', layer.digest))).toEqual([['proxy', 200, layer.size], ['nginx', 200, layer.size]]);
    }
    // The small config blob stays with the proxy (re-hashed on every read).
    expect((await served(blobPath('org/app', image.config.digest))).map(([who]) => who)).toEqual(['proxy', 'proxy']);
    expect(pullEvents(proxy)).toEqual(pullEvents(direct));
  });

  it('containerd pulls through nginx as a mirror and stores the layers nginx sent', async () => {
    const hostsDir = join(containerd.dir, 'hosts.d');
    await mkdir(join(hostsDir, UPSTREAM), { recursive: true });
    await writeFile(join(hostsDir, UPSTREAM, 'hosts.toml'), [
      'server = "http://127.0.0.1:9"',
      '',
      `[host."${nginx.url}"]`,
      '  capabilities = ["pull", "resolve"]',
      `  ca = "${nginx.caPath}"`,
      '',
    ].join('\n'));
    await ctrPull(containerd.socket, `${UPSTREAM}/org/app:1`, { hostsDir });
    const content = await ctrContentDigests(containerd.socket);
    for (const layer of image.layers) {
      expect(content).toContain(layer.digest);
      // containerd names the upstream with ?ns=, and the repository without it.
      expect(await served(`/v2/org/app/blobs/${layer.digest}?ns=${UPSTREAM}`)).toEqual([['nginx', 200, layer.size]]);
    }
  });

  it('sends the proxy\'s headers with the file, and ranges from nginx', async () => {
    const layer = image.layers[1]!;
    const whole = await get(blobPath('org/app', layer.digest));
    expect(whole.res.status).toBe(200);
    expect(whole.bytes.equals(layer.bytes)).toBe(true);
    expect(whole.res.headers.get('docker-content-digest')).toBe(layer.digest);
    expect(whole.res.headers.get('content-type')).toBe('application/octet-stream');
    expect(whole.res.headers.get('content-length')).toBe(String(layer.size));
    expect(whole.res.headers.get('etag')).toBe(`"${layer.digest}"`);
    expect(whole.res.headers.get('accept-ranges')).toBe('bytes');
    expect(whole.res.headers.get('x-accel-redirect')).toBeNull();
    expect(whole.res.headers.get('last-modified')).toBeNull();
    const scoped = await get(`/v2/org/app/blobs/${layer.digest}?ns=${UPSTREAM}`);
    expect(scoped.res.headers.get('oci-namespace')).toBe(UPSTREAM);
    expect(scoped.bytes.equals(layer.bytes)).toBe(true);

    const path = blobPath('org/app', layer.digest);
    const part = await get(path, { headers: { range: 'bytes=100-1099' } });
    expect(part.res.status).toBe(206);
    expect(part.res.headers.get('content-range')).toBe(`bytes 100-1099/${layer.size}`);
    expect(part.res.headers.get('docker-content-digest')).toBe(layer.digest);
    expect(part.bytes.equals(layer.bytes.subarray(100, 1100))).toBe(true);
    const tail = await get(path, { headers: { range: `bytes=${layer.size - 10}-` } });
    expect(tail.res.status).toBe(206);
    expect(tail.bytes.equals(layer.bytes.subarray(layer.size - 10))).toBe(true);
    // If-Range compares against the proxy's ETag (the digest), not nginx's idea of the file.
    const same = await get(path, { headers: { range: 'bytes=0-9', 'if-range': `"${layer.digest}"` } });
    expect([same.res.status, same.bytes.length]).toEqual([206, 10]);
    const changed = await get(path, { headers: { range: 'bytes=0-9', 'if-range': '"sha256:0000"' } });
    expect([changed.res.status, changed.bytes.length]).toEqual([200, layer.size]);
    // Several ranges: the whole blob, as the proxy answers (and audits) them.
    const several = await get(path, { headers: { range: 'bytes=0-9,20-29' } });
    expect([several.res.status, several.bytes.equals(layer.bytes)]).toEqual([200, true]);
    expect((await served(path)).slice(-5)).toEqual([
      ['nginx', 206, 1000], ['nginx', 206, 10], ['nginx', 206, 10], ['nginx', 200, layer.size], ['nginx', 200, layer.size],
    ]);
  });

  it('never hands off a denied blob, and the store cannot be read from outside', async () => {
    const layer = image.layers[0]!;
    const path = blobPath('blocked/app', layer.digest);
    const denied = await undiciFetch(`${nginx.url}${path}`, { dispatcher: agent });
    await expectOciError(denied as unknown as Response, 403, 'DENIED');
    expect(await served(path)).toEqual([['proxy', 403, expect.any(Number)]]);

    const hex = layer.digest.slice('sha256:'.length);
    for (const inside of [`${PREFIX}blobs/sha256/${hex.slice(0, 2)}/${hex}`, `${PREFIX}blobs/`, `${PREFIX}../portcullis.db`]) {
      const res = await get(inside);
      expect(res.res.status).toBe(404);
      expect(res.bytes.includes(layer.bytes.subarray(0, 64))).toBe(false);
    }
  });

  it('refetches a purged blob rather than losing it', async () => {
    const layer = image.layers[2]!;
    const before = await registry.countRequests(`/blobs/${layer.digest}`, 'GET');
    const purge = await get('/api/v1/cache/purge', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ digest: layer.digest }),
    });
    expect(purge.res.status).toBe(200);
    const again = await get(blobPath('org/app', layer.digest));
    expect(again.res.status).toBe(200);
    expect(again.bytes.equals(layer.bytes)).toBe(true);
    expect(await registry.countRequests(`/blobs/${layer.digest}`, 'GET')).toBe(before + 1);
    // Cached again (once committed), so the next read is nginx's.
    await waitUntil('the refetched layer in the store', async () => existsSync(storeFile(proxy, layer.digest)));
    expect((await get(blobPath('org/app', layer.digest))).bytes.equals(layer.bytes)).toBe(true);
    expect((await served(blobPath('org/app', layer.digest))).slice(-2).map(([who]) => who)).toEqual(['proxy', 'nginx']);
  });

  it('streams from the proxy when the file is gone by the time nginx reads it', async () => {
    // A second nginx whose store is empty: every handed-off file is missing when it looks, as after an
    // eviction or purge that came between the proxy's decision and nginx's read.
    const blind = await startOffloadNginx({ backend: proxy.url, storePath: await tempDir('gone') });
    const blindAgent = new Agent({ connect: { ca: blind.ca } });
    try {
      const layer = image.layers[1]!;
      const requestId = 'offload-fallback-1';
      const res = await undiciFetch(`${blind.url}${blobPath('org/app', layer.digest)}`, {
        dispatcher: blindAgent,
        headers: { 'x-request-id': requestId },
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('docker-content-digest')).toBe(layer.digest);
      expect(Buffer.from(await res.arrayBuffer()).equals(layer.bytes)).toBe(true);
      // Both answers are audited under the client's request: the handoff, then the streamed retry.
      const rows = auditRows(join(proxy.dataDir, 'portcullis.db'), 'request_id = ?', requestId);
      expect(rows.map((r) => [r.kind, r.status, r.bytes])).toEqual([
        ['pull.blob', 200, layer.size],
        ['pull.blob', 200, layer.size],
      ]);
    } finally {
      await blindAgent.close();
      await blind.stop();
    }
  });
});
