import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { pushBlob, pushImage, pushManifest, startRegistry, type PushedImage, type Registry } from '../helpers/registry.js';
import { startTokenGate, type GateRequest, type TokenGate } from '../helpers/token-gate.js';
import { createSignatureArtifact, generateKey, type TestKey } from '../helpers/pki/index.js';
import { haveTools } from '../helpers/tools.js';
import { ACCEPT_ALL_MANIFESTS, removeTempDirs, sha256, tempDir, UPSTREAM } from './support.js';

/**
 * What a cold pull costs the upstream, request by request: a real registry behind Docker token auth, pulled
 * through an empty proxy the way docker does (manifest by tag, config, then the layers at once). The counts
 * are exact, so a lookup that becomes serial-and-repeated, a second token or an extra HEAD shows here.
 */
const skip = !haveTools(['docker-registry']);

describe.skipIf(skip)('upstream round trips of a cold pull', () => {
  let registry: Registry;
  let gate: TokenGate;
  let proxy: Proxy;
  let signer: TestKey;
  const images: Record<string, PushedImage> = {};
  let sigLayer = '';

  beforeAll(async () => {
    registry = await startRegistry({ dir: await tempDir('registry') });
    gate = await startTokenGate(registry.url);
    signer = generateKey('ecdsa-p256');
    for (const repo of ['open/app', 'open/other', 'open/early', 'open/inspected', 'signed/app']) images[repo] = await pushImage(registry.url, repo, '1', { layers: 3, layerSize: 256 * 1024 });
    images['open/twins:1'] = await pushImage(registry.url, 'open/twins', '1', { layers: 2 });
    images['open/twins:2'] = await pushImage(registry.url, 'open/twins', '2', { layers: 2 });
    const sig = createSignatureArtifact({ digest: images['signed/app']!.digest, repository: `${UPSTREAM}/signed/app`, signer });
    for (const blob of sig.blobs) await pushBlob(registry.url, 'signed/app', blob);
    await pushManifest(registry.url, 'signed/app', sig.tag!, sig.manifest, sig.mediaType);
    sigLayer = (JSON.parse(sig.manifest.toString('utf8')) as { layers: Array<{ digest: string }> }).layers[0]!.digest;
    proxy = await startProxy({
      upstreams: [{ name: UPSTREAM, url: gate.url }],
      policies: [
        { name: 'open', match: [`${UPSTREAM}/open/*`], mode: 'allow' },
        { name: 'signed', match: [`${UPSTREAM}/signed/*`], mode: 'enforce', signatures: { anyOf: [{ key: 'release' }] } },
      ],
      dataDir: await tempDir('proxy'),
      // One process: tokens are per process, and the counts below are those of one. Prefetching is on: the
      // counts are the same without it, which is the point (the client's requests join the downloads).
      extra: { server: { workers: 1 }, pull: { prefetchBlobs: true }, trust: { keys: { release: signer.publicKeyPem } } },
    });
  });

  afterAll(async () => {
    await proxy?.stop();
    await gate?.stop();
    await registry?.stop();
    await removeTempDirs();
  });

  /** Pulls like docker: manifest by tag, then the config, then every layer at once; checks every digest. */
  async function pull(repo: string, tag = '1'): Promise<void> {
    const base = `${proxy.url}/v2/${UPSTREAM}/${repo}`;
    const res = await fetch(`${base}/manifests/${tag}`, { headers: { accept: ACCEPT_ALL_MANIFESTS } });
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(res.status, bytes.toString('utf8')).toBe(200);
    const manifest = JSON.parse(bytes.toString('utf8')) as { config: { digest: string }; layers: Array<{ digest: string }> };
    const blob = async (digest: string) => {
      const b = await fetch(`${base}/blobs/${digest}`);
      expect(b.status).toBe(200);
      expect(sha256(Buffer.from(await b.arrayBuffer()))).toBe(digest);
    };
    await blob(manifest.config.digest);
    await Promise.all(manifest.layers.map((l) => blob(l.digest)));
  }

  /** The gate's log as `METHOD what status` lines, digests named after what they are. */
  function describeRequests(log: GateRequest[], image: PushedImage): string[] {
    const names = new Map<string, string>([[image.config.digest, 'config'], [sigLayer, 'signature layer']]);
    image.layers.forEach((l, i) => names.set(l.digest, `layer ${i}`));
    const subjectTag = `sha256-${image.digest.slice('sha256:'.length)}`;
    return log
      .map((r) => {
        if (r.kind === 'token') return `token ${r.scope}`;
        const what = r.path
          .replace(/^\/v2\/[^?]+?\/(manifests|blobs|referrers)\//, '$1 ')
          .replace(/sha256:[0-9a-f]{64}/, (d) => names.get(d) ?? (d === image.digest ? 'subject' : d))
          .replace(subjectTag, 'subject-tag');
        return `${r.method} ${what} ${r.status}`;
      })
      .sort();
  }

  async function coldPull(repo: string): Promise<string[]> {
    gate.reset();
    await pull(repo);
    return describeRequests(await gate.quiet(), images[repo]!);
  }

  const blobGets = ['GET blobs config 200', 'GET blobs layer 0 200', 'GET blobs layer 1 200', 'GET blobs layer 2 200'];

  it('allow-all: the first repository costs one challenge, one token, one manifest GET and one GET per blob', async () => {
    expect(await coldPull('open/app')).toEqual(
      ['GET manifests 1 200', 'GET manifests 1 401', ...blobGets, 'token repository:open/app:pull'].sort(),
    );
  });

  it('allow-all: a further repository of a known upstream asks for its token without being challenged first', async () => {
    expect(await coldPull('open/other')).toEqual(['GET manifests 1 200', ...blobGets, 'token repository:open/other:pull'].sort());
  });

  it('concurrent first pulls of one repository share one token', async () => {
    gate.reset();
    await Promise.all([pull('open/twins', '1'), pull('open/twins', '2')]);
    const log = await gate.quiet();
    expect(log.filter((r) => r.kind === 'token').map((r) => r.scope)).toEqual(['repository:open/twins:pull']);
    expect(log.filter((r) => r.status === 401)).toEqual([]);
    expect(log.filter((r) => r.method === 'HEAD')).toEqual([]);
    // Two manifests, and every blob once.
    const blobs = new Set([...images['open/twins:1']!.layers, ...images['open/twins:2']!.layers].map((l) => l.digest));
    blobs.add(images['open/twins:1']!.config.digest).add(images['open/twins:2']!.config.digest);
    expect(log.filter((r) => r.path.includes('/manifests/')).length).toBe(2);
    expect(log.filter((r) => r.path.includes('/blobs/')).length).toBe(blobs.size);
  });

  it('a served manifest\'s blobs start downloading before the client asks, and the client\'s requests join them', async () => {
    gate.reset();
    const image = images['open/early']!;
    const base = `${proxy.url}/v2/${UPSTREAM}/open/early`;
    const res = await fetch(`${base}/manifests/1`, { headers: { accept: ACCEPT_ALL_MANIFESTS } });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    const early = describeRequests(await gate.quiet(), image).filter((r) => r.startsWith('GET blobs'));
    expect(early).toEqual(blobGets);
    gate.reset();
    await pull('open/early');
    expect(await gate.quiet()).toEqual([]);
  });

  it('a HEAD of a manifest starts no download', async () => {
    gate.reset();
    const res = await fetch(`${proxy.url}/v2/${UPSTREAM}/open/inspected/manifests/1`, { method: 'HEAD', headers: { accept: ACCEPT_ALL_MANIFESTS } });
    expect(res.status).toBe(200);
    expect((await gate.quiet()).filter((r) => r.path.includes('/blobs/'))).toEqual([]);
  });

  it('key-signature rule: evidence costs one lookup per place a signature may be, the signature layer once, and every blob still once', async () => {
    expect(await coldPull('signed/app')).toEqual(
      [
        'GET manifests 1 200',
        // Where signatures and attestations may be: cosign's tags, the referrers API and its fallback tag.
        'GET manifests subject-tag.sig 200',
        'GET manifests subject-tag.att 404',
        'GET referrers subject 404',
        'GET manifests subject-tag 404',
        'GET blobs signature layer 200',
        // The config is read for the decision and served from the cache after it.
        ...blobGets,
        'token repository:signed/app:pull',
      ].sort(),
    );
  });
});

describe.skipIf(skip)('an upstream whose tokens live only seconds', () => {
  let registry: Registry;
  let gate: TokenGate;
  let proxy: Proxy;

  beforeAll(async () => {
    registry = await startRegistry({ dir: await tempDir('registry-short') });
    // Below the margin kept before a token's expiry: the token is never reused, but it must still be used.
    gate = await startTokenGate(registry.url, { expiresIn: 2 });
    await pushImage(registry.url, 'org/app', '1');
    proxy = await startProxy({ upstreams: [{ name: UPSTREAM, url: gate.url }], dataDir: await tempDir('proxy-short'), extra: { server: { workers: 1 } } });
  });

  afterAll(async () => {
    await proxy?.stop();
    await gate?.stop();
    await registry?.stop();
    await removeTempDirs();
  });

  it('serves the pull, each request with the token it was just given', async () => {
    const res = await fetch(`${proxy.url}/v2/${UPSTREAM}/org/app/manifests/1`, { headers: { accept: ACCEPT_ALL_MANIFESTS } });
    expect(res.status, await res.clone().text()).toBe(200);
    const log = await gate.quiet();
    expect(log.filter((r) => r.path.includes('/manifests/')).map((r) => r.status)).toEqual([401, 200]);
  });
});
