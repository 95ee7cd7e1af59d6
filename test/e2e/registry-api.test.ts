import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { auditRows } from '../helpers/audit.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skopeoInspectRaw, skopeoListTags } from '../helpers/clients.js';
import { ALLOW_ALL, startProxy, type Proxy } from '../helpers/proxy.js';
import { pushBlob, pushImage, pushManifest, startRegistry, type PushedImage, type Registry } from '../helpers/registry.js';
import { haveTools } from '../helpers/tools.js';
import { bodyBytes, expectOciError, OCI_MANIFEST, removeTempDirs, sha256, tempDir, UPSTREAM } from './support.js';

/** The OCI distribution read API as clients see it through the proxy: addressing, headers, errors, tags. */
const skip = !haveTools(['docker-registry', 'skopeo']);

describe.skipIf(skip)('OCI read API through the proxy', () => {
  let registry: Registry;
  let proxy: Proxy;
  let app: PushedImage;
  let denied: PushedImage;
  let signature: { tag: string; digest: string; manifest: Buffer };
  const TAGS = ['a', 'b', 'c', 'd', 'e'];
  const v2 = (path: string): string => `${proxy.url}/v2/${path}`;

  beforeAll(async () => {
    registry = await startRegistry({ dir: await tempDir('registry') });
    app = await pushImage(registry.url, 'org/app', '1', { layers: 2 });
    denied = await pushImage(registry.url, 'denied/app', '1');
    const tagged = await pushImage(registry.url, 'org/tags', TAGS[0]!);
    for (const tag of TAGS.slice(1)) await pushManifest(registry.url, 'org/tags', tag, tagged.manifest, tagged.mediaType);
    signature = await pushCosignSignature(registry.url, 'org/app', app.digest);
    proxy = await startProxy({
      upstreams: [{ name: UPSTREAM, url: registry.url }],
      policies: [{ name: 'no-denied', match: [`${UPSTREAM}/denied/**`], mode: 'deny' }, ...ALLOW_ALL],
      dataDir: await tempDir('proxy'),
    });
  });

  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    await removeTempDirs();
  });

  it('answers GET /v2/ with the distribution API version header', async () => {
    const res = await fetch(`${proxy.url}/v2/`);
    await res.arrayBuffer();
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
  });

  it('serves a manifest byte for byte with its media type and digest, by GET and HEAD', async () => {
    const get = await fetch(v2(`${UPSTREAM}/org/app/manifests/1`), { headers: { accept: OCI_MANIFEST } });
    expect(get.status).toBe(200);
    expect(get.headers.get('content-type')).toBe(OCI_MANIFEST);
    expect(get.headers.get('docker-content-digest')).toBe(app.digest);
    expect((await bodyBytes(get)).equals(app.manifest)).toBe(true);

    const head = await fetch(v2(`${UPSTREAM}/org/app/manifests/${app.digest}`), { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('docker-content-digest')).toBe(app.digest);
    expect(Number(head.headers.get('content-length'))).toBe(app.size);

    // The audit log records what was sent: the manifest's bytes for GET, none for HEAD.
    const rows = auditRows(join(proxy.dataDir, 'portcullis.db'), 'kind = ? AND repository = ?', 'pull.manifest', `${UPSTREAM}/org/app`);
    expect(rows.slice(-2).map((r) => ({ reference: r.reference, bytes: r.bytes }))).toEqual([
      { reference: '1', bytes: app.size },
      { reference: app.digest, bytes: 0 },
    ]);
  });

  it('picks the upstream by ?ns= and falls back to the default upstream without prefix or ns', async () => {
    for (const path of [`org/app/manifests/1?ns=${UPSTREAM}`, 'org/app/manifests/1']) {
      const res = await fetch(v2(path), { headers: { accept: OCI_MANIFEST } });
      expect(res.status, path).toBe(200);
      expect(sha256(await bodyBytes(res)), path).toBe(app.digest);
    }
  });

  it('serves blobs with their digest', async () => {
    const layer = app.layers[0]!;
    const res = await fetch(v2(`${UPSTREAM}/org/app/blobs/${layer.digest}`));
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(layer.digest);
    expect((await bodyBytes(res)).equals(layer.bytes)).toBe(true);
  });

  it('names the namespace it used in OCI-Namespace on every answer to a request with ?ns=, and only then', async () => {
    const layer = app.layers[0]!.digest;
    const paths = [
      `org/app/manifests/1`,
      `org/app/manifests/${app.digest}`,
      `org/app/blobs/${layer}`,
      `org/app/tags/list`,
      `org/app/referrers/${app.digest}`,
      `org/app/manifests/missing`,
      `denied/app/manifests/1`,
    ];
    for (const path of paths) {
      for (const method of ['GET', 'HEAD']) {
        const res = await fetch(v2(`${path}?ns=${UPSTREAM}`), { method, headers: { accept: OCI_MANIFEST } });
        await res.arrayBuffer();
        expect(res.headers.get('oci-namespace'), `${method} ${path} (${res.status})`).toBe(UPSTREAM);
        const plain = await fetch(v2(path), { method, headers: { accept: OCI_MANIFEST } });
        await plain.arrayBuffer();
        expect(plain.status, `${method} ${path}`).toBe(res.status);
        expect(plain.headers.get('oci-namespace'), `${method} ${path} without ns`).toBeNull();
      }
    }
    // A namespace that names no upstream was not used: a 404, without the header.
    const unknown = await fetch(v2('org/app/manifests/1?ns=nowhere.example'));
    await unknown.arrayBuffer();
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('oci-namespace')).toBeNull();
  });

  it('sends Docker-Content-Digest on every GET and HEAD of a manifest or blob: fresh, cached, ranged', async () => {
    const image = await pushImage(registry.url, 'org/digests', '1', { layers: 2 });
    const [first, second] = [image.layers[0]!, image.layers[1]!];
    const expectDigest = async (method: string, path: string, digest: string, headers: Record<string, string> = {}) => {
      const res = await fetch(v2(`${UPSTREAM}/org/digests/${path}`), { method, headers: { accept: OCI_MANIFEST, ...headers } });
      await res.arrayBuffer();
      expect([200, 206], `${method} ${path} ${JSON.stringify(headers)}`).toContain(res.status);
      expect(res.headers.get('docker-content-digest'), `${method} ${path} ${JSON.stringify(headers)}`).toBe(digest);
    };
    // Manifests: by tag before anything is cached, then by tag and digest from the cache.
    await expectDigest('HEAD', 'manifests/1', image.digest);
    await expectDigest('GET', 'manifests/1', image.digest);
    await expectDigest('GET', `manifests/${image.digest}`, image.digest);
    await expectDigest('HEAD', `manifests/${image.digest}`, image.digest);
    // Blobs: HEAD and a range before the blob is cached, then whole, ranged and HEAD from the cache.
    await expectDigest('HEAD', `blobs/${first.digest}`, first.digest);
    await expectDigest('GET', `blobs/${second.digest}`, second.digest, { range: 'bytes=0-9' });
    for (const layer of [first, second]) {
      await expectDigest('GET', `blobs/${layer.digest}`, layer.digest);
      await expectDigest('GET', `blobs/${layer.digest}`, layer.digest);
      await expectDigest('GET', `blobs/${layer.digest}`, layer.digest, { range: 'bytes=5-' });
      await expectDigest('HEAD', `blobs/${layer.digest}`, layer.digest);
    }
  });

  it.each([
    ['a malformed name', 'GET', `${UPSTREAM}/Org/App/manifests/1`, 400, 'NAME_INVALID'],
    ['a malformed digest', 'GET', `${UPSTREAM}/org/app/blobs/sha256:not-hex`, 400, 'DIGEST_INVALID'],
    ['an unknown tag', 'GET', `${UPSTREAM}/org/app/manifests/missing`, 404, 'MANIFEST_UNKNOWN'],
    ['an unknown blob', 'GET', `${UPSTREAM}/org/app/blobs/${sha256(randomBytes(32))}`, 404, 'BLOB_UNKNOWN'],
    ['a manifest push', 'PUT', `${UPSTREAM}/org/app/manifests/2`, 405, 'UNSUPPORTED'],
    ['a blob upload', 'POST', `${UPSTREAM}/org/app/blobs/uploads/`, 405, 'UNSUPPORTED'],
    ['a manifest delete', 'DELETE', `${UPSTREAM}/org/app/manifests/1`, 405, 'UNSUPPORTED'],
  ])('rejects %s with its OCI error', async (_what, method, path, status, code) => {
    const body = method === 'PUT' ? new Uint8Array(app.manifest) : undefined;
    const headers = method === 'PUT' ? { 'content-type': OCI_MANIFEST } : undefined;
    await expectOciError(await fetch(v2(path), { method, body, headers }), status, code);
  });

  it('never passes writes upstream', async () => {
    const upstream = await fetch(`${registry.url}/v2/org/app/manifests/1`, { headers: { accept: OCI_MANIFEST } });
    expect(sha256(await bodyBytes(upstream))).toBe(app.digest);
    expect(await registry.countRequests('/v2/org/app/manifests/2')).toBe(0);
    expect(await registry.countRequests('/v2/org/app/', 'DELETE')).toBe(0);
  });

  it('denies a pull that policy denies, naming the rule, and does not serve its blobs', async () => {
    const error = await expectOciError(await fetch(v2(`${UPSTREAM}/denied/app/manifests/1`)), 403, 'DENIED');
    expect(JSON.stringify(error)).toContain('no-denied');
    const blob = await fetch(v2(`${UPSTREAM}/denied/app/blobs/${denied.layers[0]!.digest}`));
    expect([403, 404], `${blob.status} ${await blob.clone().text()}`).toContain(blob.status);
    await blob.arrayBuffer();
  });

  it('pages tags/list with n and last, linking to the next page under the proxy path', async () => {
    const seen: string[] = [];
    let next: string | undefined = v2(`${UPSTREAM}/org/tags/tags/list?n=2`);
    for (let pages = 0; next && pages < 10; pages++) {
      const res: Response = await fetch(next);
      const text = await res.text();
      expect(res.status, text).toBe(200);
      const body = JSON.parse(text) as { name: string; tags: string[] };
      expect(body.name).toBe(`${UPSTREAM}/org/tags`);
      expect(body.tags.length, `${next} -> ${text}`).toBeLessThanOrEqual(2);
      seen.push(...body.tags);
      const link = res.headers.get('link');
      const target = link ? /<([^>]+)>;\s*rel="next"/.exec(link)?.[1] : undefined;
      if (target) expect(new URL(target, proxy.url).pathname).toBe(`/v2/${UPSTREAM}/org/tags/tags/list`);
      next = target ? new URL(target, proxy.url).toString() : undefined;
    }
    expect(seen).toEqual(TAGS);
    const last = await fetch(v2(`${UPSTREAM}/org/tags/tags/list?n=2&last=c`));
    expect(((await last.json()) as { tags: string[] }).tags).toEqual(['d', 'e']);
    expect((await skopeoListTags(`${proxy.host}/${UPSTREAM}/org/tags`)).sort()).toEqual(TAGS);
  });

  it('serves a cosign signature tag like any other tag', async () => {
    const res = await fetch(v2(`${UPSTREAM}/org/app/manifests/${signature.tag}`), { headers: { accept: OCI_MANIFEST } });
    expect(res.status).toBe(200);
    expect((await bodyBytes(res)).equals(signature.manifest)).toBe(true);
    const raw = await skopeoInspectRaw(`${proxy.host}/${UPSTREAM}/org/app:${signature.tag}`);
    expect(sha256(raw)).toBe(signature.digest);
  });
});

/** A manifest shaped like cosign's `sha256-<hex>.sig` (the signature itself is not checked here). */
async function pushCosignSignature(baseUrl: string, repo: string, subject: string) {
  const payload = Buffer.from(
    JSON.stringify({
      critical: {
        identity: { 'docker-reference': `${UPSTREAM}/${repo}` },
        image: { 'docker-manifest-digest': subject },
        type: 'cosign container image signature',
      },
      optional: null,
    }),
  );
  const config = Buffer.from(JSON.stringify({ architecture: '', os: '', config: {}, rootfs: { type: 'layers', diff_ids: [sha256(payload)] } }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: await pushBlob(baseUrl, repo, config), size: config.length },
      layers: [
        {
          mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
          digest: await pushBlob(baseUrl, repo, payload),
          size: payload.length,
          annotations: { 'dev.cosignproject.cosign/signature': randomBytes(64).toString('base64') },
        },
      ],
    }),
  );
  const tag = `${subject.replace(':', '-')}.sig`;
  return { tag, digest: await pushManifest(baseUrl, repo, tag, manifest, OCI_MANIFEST), manifest };
}
