import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { pushImage, startRegistry, type Registry } from '../helpers/registry.js';
import { haveTools } from '../helpers/tools.js';
import { ACCEPT_ALL_MANIFESTS, removeTempDirs, tempDir, UPSTREAM } from './support.js';

/** Tags are revalidated upstream with one HEAD only after tagTtl, so a busy proxy spares the upstream's rate limit. */
const skip = !haveTools(['docker-registry']);

describe.skipIf(skip)('tag revalidation', () => {
  let registry: Registry;
  let proxy: Proxy;

  beforeAll(async () => {
    registry = await startRegistry({ dir: await tempDir('registry') });
    proxy = await startProxy({ upstreams: [{ name: UPSTREAM, url: registry.url, tagTtl: '2s' }], dataDir: await tempDir('proxy') });
  });

  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    await removeTempDirs();
  });

  const digestOfTag = async (): Promise<string | null> => {
    const res = await fetch(`${proxy.url}/v2/${UPSTREAM}/org/moving/manifests/latest`, { headers: { accept: ACCEPT_ALL_MANIFESTS } });
    await res.arrayBuffer();
    expect(res.status).toBe(200);
    return res.headers.get('docker-content-digest');
  };

  it('asks the upstream nothing within the TTL, then revalidates with one HEAD and follows the moved tag', async () => {
    const first = await pushImage(registry.url, 'org/moving', 'latest');
    expect(await digestOfTag()).toBe(first.digest);
    for (let i = 0; i < 5; i++) expect(await digestOfTag()).toBe(first.digest);
    // First sight of the tag: one GET, no HEAD to compare with nothing.
    expect(await registry.countRequests('/org/moving/manifests/latest', 'GET')).toBe(1);
    expect(await registry.countRequests('/org/moving/manifests/latest', 'HEAD')).toBe(0);

    const second = await pushImage(registry.url, 'org/moving', 'latest');
    expect(await digestOfTag()).toBe(first.digest); // still within the TTL
    await new Promise((r) => setTimeout(r, 2200));
    expect(await digestOfTag()).toBe(second.digest);
    expect(await registry.countRequests('/org/moving/manifests/latest', 'HEAD')).toBe(1);
    expect(await registry.countRequests('/org/moving/manifests/latest', 'GET')).toBe(1);
  });
});
