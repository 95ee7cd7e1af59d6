import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditRows } from '../helpers/audit.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { pushImage, startRegistry, type PushedImage, type Registry } from '../helpers/registry.js';
import { haveTools } from '../helpers/tools.js';
import { ACCEPT_ALL_MANIFESTS, removeTempDirs, tempDir, UPSTREAM } from './support.js';

/** An admin purges cached content through the API: a moved tag is followed at once, a purged blob refetched. */
const ADMIN_TOKEN = 'e2e-admin-token-4f2a';

describe.skipIf(!haveTools(['docker-registry']))('cache purge', () => {
  let registry: Registry;
  let proxy: Proxy;
  let first: PushedImage;

  beforeAll(async () => {
    registry = await startRegistry({ dir: await tempDir('registry') });
    first = await pushImage(registry.url, 'org/app', 'latest');
    proxy = await startProxy({
      upstreams: [{ name: UPSTREAM, url: registry.url, tagTtl: '1h' }],
      dataDir: await tempDir('proxy'),
      extra: { auth: { pull: 'anonymous', tokens: [{ name: 'alice', role: 'admin', tokenSha256: createHash('sha256').update(ADMIN_TOKEN).digest('hex') }] } },
    });
  });

  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    await removeTempDirs();
  });

  const purge = (body: unknown) =>
    fetch(`${proxy.url}/api/v1/cache/purge`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const tagDigest = async () => {
    const res = await fetch(`${proxy.url}/v2/${UPSTREAM}/org/app/manifests/latest`, { headers: { accept: ACCEPT_ALL_MANIFESTS } });
    await res.arrayBuffer();
    return res.headers.get('docker-content-digest');
  };

  it('forgets a repository\'s tags, so a moved tag is followed before its TTL', async () => {
    expect(await tagDigest()).toBe(first.digest);
    const second = await pushImage(registry.url, 'org/app', 'latest');
    expect(await tagDigest()).toBe(first.digest); // the 1 h tag TTL still holds
    const res = await purge({ repository: `${UPSTREAM}/org/app` });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { purged: { tags: number } }).purged.tags).toBe(1);
    expect(await tagDigest()).toBe(second.digest);
  });

  it('removes a blob from the store, serves it again by refetching, and audits the purge', async () => {
    const layer = first.layers[0]!;
    const url = `${proxy.url}/v2/${UPSTREAM}/org/app/blobs/${layer.digest}`;
    expect(Buffer.from(await (await fetch(url)).arrayBuffer()).equals(layer.bytes)).toBe(true);
    const before = await registry.countRequests(`/blobs/${layer.digest}`, 'GET');
    const res = await purge({ digest: layer.digest });
    expect(((await res.json()) as { purged: { files: number } }).purged.files).toBe(1);
    expect(Buffer.from(await (await fetch(url)).arrayBuffer()).equals(layer.bytes)).toBe(true);
    expect(await registry.countRequests(`/blobs/${layer.digest}`, 'GET')).toBe(before + 1);
    const events = auditRows(join(proxy.dataDir, 'portcullis.db'), "kind = 'cache.purge'");
    expect(events.map((e) => [e.user, e.repository ?? e.digest])).toEqual([
      ['alice', `${UPSTREAM}/org/app`],
      ['alice', layer.digest],
    ]);
  });

  it('rejects a purge that names nothing valid', async () => {
    expect((await purge({})).status).toBe(400);
    expect((await purge({ repository: 'nowhere/x' })).status).toBe(400);
    expect((await purge({ digest: 'sha256:nope' })).status).toBe(400);
    expect((await purge({ digest: 5 })).status).toBe(400);
  });
});
