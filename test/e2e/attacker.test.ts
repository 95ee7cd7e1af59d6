import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditRows } from '../helpers/audit.js';
import { skopeoCopy } from '../helpers/clients.js';
import { createSignatureArtifact, createTestPki, generateKey, type OciArtifact, type TestKey } from '../helpers/pki/index.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { pushBlob, pushImage, pushManifest, startRegistry, tarOf, type PushedImage, type Registry } from '../helpers/registry.js';
import { haveTools, waitUntil } from '../helpers/tools.js';
import { ACCEPT_ALL_MANIFESTS, expectOciError, OCI_MANIFEST, removeTempDirs, sha256, tempDir, UPSTREAM } from './support.js';

/**
 * What someone who can push to an upstream repository (or send any request) tries, against a real
 * distribution registry: borrowing a signed image's decision, poisoning or borrowing evidence across
 * repositories, probing names the policy refuses. Each case is a hole that once let an unsigned image through.
 */
const POLICIES = [
  { name: 'signed', match: [`${UPSTREAM}/app/*`], mode: 'enforce', signatures: { anyOf: [{ key: 'acme-release' }] } },
  { name: 'blocked', match: [`${UPSTREAM}/blocked/**`], mode: 'deny' },
];

describe.skipIf(!haveTools(['docker-registry', 'skopeo']))('an attacker with push access to an upstream repository', () => {
  let registry: Registry;
  let proxy: Proxy;
  let acme: TestKey;
  let signed: PushedImage;

  const manifest = (repo: string, ref: string, init: RequestInit = {}) =>
    fetch(`${proxy.url}/v2/${UPSTREAM}/${repo}/manifests/${ref}`, { ...init, headers: { accept: ACCEPT_ALL_MANIFESTS } });
  const blob = (repo: string, digest: string, method = 'GET') => fetch(`${proxy.url}/v2/${UPSTREAM}/${repo}/blobs/${digest}`, { method });
  const blobByNs = (repo: string, digest: string) => fetch(`${proxy.url}/v2/${repo}/blobs/${digest}?ns=${UPSTREAM}`);
  const push = async (a: OciArtifact, repo: string, ref?: string) => {
    for (const b of a.blobs) await pushBlob(registry.url, repo, b);
    await pushManifest(registry.url, repo, ref ?? a.tag ?? a.digest, a.manifest, a.mediaType);
  };
  const sign = (repo: string, image: PushedImage, key = acme) =>
    push(createSignatureArtifact({ digest: image.digest, repository: `${UPSTREAM}/${repo}`, signer: key }), repo);
  const rows = (where: string, ...params: unknown[]) => auditRows(join(proxy.dataDir, 'portcullis.db'), where, ...params);

  /** A runnable image (gzipped tar layer, image config) whose manifest names `subject` as its OCI subject. */
  async function runnableWithSubject(repo: string, tag: string, subject: PushedImage): Promise<{ digest: string; layers: string[] }> {
    const layer = gzipSync(tarOf('evil.sh', randomBytes(512)));
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/evil.sh'] }, rootfs: { type: 'layers', diff_ids: [] } }));
    await pushBlob(registry.url, repo, layer);
    await pushBlob(registry.url, repo, config);
    const bytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.length }],
        subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
      }),
    );
    const digest = await pushManifest(registry.url, repo, tag, bytes, OCI_MANIFEST);
    return { digest, layers: [sha256(layer), sha256(config)] };
  }

  async function expectNotServed(repo: string, digests: string[]): Promise<void> {
    for (const d of digests) {
      for (const res of [await blob(repo, d), await blob(repo, d, 'HEAD'), await blobByNs(repo, d)]) {
        expect([403, 404], `${repo} blob ${d}`).toContain(res.status);
        await res.arrayBuffer();
      }
    }
  }

  beforeAll(async () => {
    registry = await startRegistry({ dir: await tempDir('registry') });
    const pki = createTestPki();
    acme = generateKey('ecdsa-p256');
    const dataDir = await tempDir('proxy');
    const trustedRoot = await pki.writeTrustedRoot(dataDir);
    signed = await pushImage(registry.url, 'app/web', '1');
    await sign('app/web', signed);
    proxy = await startProxy({
      upstreams: [{ name: UPSTREAM, url: registry.url }],
      policies: POLICIES,
      dataDir,
      extra: { trust: { trustedRoot, keys: { 'acme-release': acme.publicKeyPem } } },
    });
  });

  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    await removeTempDirs();
  });

  describe('borrowed decisions', () => {
    it('judges a runnable image that names a signed image as its subject on its own digest, and serves none of its layers', async () => {
      const evil = await runnableWithSubject('app/web', 'evil', signed);
      const error = await expectOciError(await manifest('app/web', 'evil'), 403, 'DENIED');
      expect(error.message).toMatch(/^portcullis: policy "signed": no signature/);
      expect((await manifest('app/web', evil.digest)).status).toBe(403);
      const copy = await skopeoCopy(`${proxy.host}/${UPSTREAM}/app/web:evil`, await tempDir('copy')).catch((e: Error) => e);
      expect(copy).toBeInstanceOf(Error);
      expect((copy as Error).message).toMatch(/denied: portcullis: policy \\?"signed\\?": no signature/);
      await expectNotServed('app/web', evil.layers);
      // The signed image itself is still served.
      expect((await manifest('app/web', '1')).status).toBe(200);
    });

    it('judges a runnable image pushed under a cosign-shaped tag on its own digest', async () => {
      const victim = await pushImage(registry.url, 'app/tagged', '1');
      await sign('app/tagged', victim);
      const hex = victim.digest.slice('sha256:'.length);
      for (const tag of [`sha256-${hex}.sbom`, `sha256-${hex}.att`, `sha256-${hex}`]) {
        const evil = await pushImage(registry.url, 'app/tagged', tag);
        const error = await expectOciError(await manifest('app/tagged', tag), 403, 'DENIED');
        expect(error.message).toMatch(/no signature/);
        await expectNotServed('app/tagged', [evil.config.digest, ...evil.layers.map((l) => l.digest)]);
      }
      const copy = await skopeoCopy(`${proxy.host}/${UPSTREAM}/app/tagged:sha256-${hex}.att`, await tempDir('copy')).catch((e: Error) => e);
      expect((copy as Error).message).toMatch(/denied: portcullis: policy \\?"signed\\?": no signature/);
    });

    it('judges a Helm chart or an unknown artifact type with a subject on its own digest', async () => {
      const image = await pushImage(registry.url, 'app/chart', '1');
      await sign('app/chart', image);
      const chart = gzipSync(tarOf('Chart.yaml', Buffer.from('name: evil\n')));
      const config = Buffer.from('{"name":"evil","version":"1.0.0"}');
      await pushBlob(registry.url, 'app/chart', chart);
      await pushBlob(registry.url, 'app/chart', config);
      const bytes = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: 'application/vnd.cncf.helm.config.v1+json', digest: sha256(config), size: config.length },
          layers: [{ mediaType: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip', digest: sha256(chart), size: chart.length }],
          subject: { mediaType: image.mediaType, digest: image.digest, size: image.size },
        }),
      );
      await pushManifest(registry.url, 'app/chart', 'chart', bytes, OCI_MANIFEST);
      await expectOciError(await manifest('app/chart', 'chart'), 403, 'DENIED');
      await expectNotServed('app/chart', [sha256(chart), sha256(config)]);
    });

    it('still serves a real signature artifact and its layers under the decision of the image it signs', async () => {
      const sig = createSignatureArtifact({ digest: signed.digest, repository: `${UPSTREAM}/app/web`, signer: acme });
      const res = await manifest('app/web', sig.tag!);
      expect(res.status, await res.clone().text()).toBe(200);
      for (const b of sig.blobs) expect((await blob('app/web', sha256(b))).status).toBe(200);
    });
  });

  describe('evidence belongs to a repository', () => {
    it('does not let an unsigned copy in another repository block a release', async () => {
      const release = await pushImage(registry.url, 'app/release', '1');
      const copy = Buffer.from(release.manifest);
      for (const b of [release.config.bytes, ...release.layers.map((l) => l.bytes)]) await pushBlob(registry.url, 'app/copy', b);
      await pushManifest(registry.url, 'app/copy', '1', copy, release.mediaType);
      await sign('app/release', release);
      expect((await manifest('app/copy', '1')).status).toBe(403);
      const res = await manifest('app/release', '1');
      expect(res.status, await res.clone().text()).toBe(200);
    });

    it('does not judge an image by signatures that live in another repository', async () => {
      expect((await manifest('app/web', signed.digest)).status).toBe(200);
      for (const b of [signed.config.bytes, ...signed.layers.map((l) => l.bytes)]) await pushBlob(registry.url, 'app/thief', b);
      await pushManifest(registry.url, 'app/thief', '1', signed.manifest, signed.mediaType);
      const error = await expectOciError(await manifest('app/thief', '1'), 403, 'DENIED');
      expect(error.message).toMatch(/no signature/);
    });

    it('checks again within seconds when it found no signature, without asking upstream on every pull', async () => {
      const late = await pushImage(registry.url, 'app/late', '1');
      expect((await manifest('app/late', '1')).status).toBe(403);
      const before = await registry.countRequests(`/app/late/manifests/sha256-`);
      for (let i = 0; i < 5; i++) expect((await manifest('app/late', '1')).status).toBe(403);
      expect(await registry.countRequests(`/app/late/manifests/sha256-`)).toBe(before);
      await sign('app/late', late);
      await new Promise((r) => setTimeout(r, 5_500));
      const res = await manifest('app/late', '1');
      expect(res.status, await res.clone().text()).toBe(200);
    });
  });

  describe('names are decided before the upstream is asked', () => {
    it('refuses names under a deny rule or no rule with 403 DENIED and no upstream request', async () => {
      const digest = `sha256:${'ab'.repeat(32)}`;
      const requests = [
        manifest('blocked/app', '1'),
        manifest('blocked/app', '1', { method: 'HEAD' }),
        blob('blocked/app', digest),
        fetch(`${proxy.url}/v2/${UPSTREAM}/blocked/app/tags/list`),
        fetch(`${proxy.url}/v2/${UPSTREAM}/blocked/app/referrers/${digest}`),
        manifest('nomatch/app', '1'),
        blob('nomatch/app', digest),
        fetch(`${proxy.url}/v2/${UPSTREAM}/nomatch/app/tags/list`),
      ];
      for (const res of await Promise.all(requests)) {
        expect(res.status, res.url).toBe(403);
        if (res.headers.get('content-length') !== '0' && (await res.clone().text()) !== '') {
          const body = (await res.json()) as { errors: Array<{ code: string }> };
          expect(body.errors[0]!.code).toBe('DENIED');
        }
      }
      const logged = await registry.requests();
      expect(logged.filter((r) => r.path.includes('/blocked/') || r.path.includes('/nomatch/'))).toEqual([]);
    });
  });

  describe('every refusal is audited', () => {
    it('records denied listings, invalid names and unknown namespaces', async () => {
      const digest = `sha256:${'cd'.repeat(32)}`;
      await fetch(`${proxy.url}/v2/${UPSTREAM}/blocked/list/tags/list`);
      await fetch(`${proxy.url}/v2/${UPSTREAM}/blocked/list/referrers/${digest}`);
      await fetch(`${proxy.url}/v2/${UPSTREAM}/Bad..Name/manifests/1`);
      await fetch(`${proxy.url}/v2/org/app/manifests/1?ns=nowhere.example`);
      expect(rows("repository = ? AND status = 403", `${UPSTREAM}/blocked/list`).length).toBe(2);
      const refused = rows("status = 400 OR status = 404");
      expect(refused.some((r) => String(r.reasons).includes('Bad..Name'))).toBe(true);
      expect(refused.some((r) => String(r.reasons).includes('nowhere.example'))).toBe(true);
    });

    it('bounds what a flood of refused requests writes, and says how many it left out', async () => {
      const before = rows('1 = 1').length;
      const flood = Array.from({ length: 600 }, (_, i) => `${proxy.url}/v2/${UPSTREAM}/Flood${i}/manifests/1`);
      for (let i = 0; i < flood.length; i += 50) await Promise.all(flood.slice(i, i + 50).map((u) => fetch(u).then((r) => r.arrayBuffer())));
      await new Promise((r) => setTimeout(r, 300));
      const written = rows('id > ?', before);
      expect(written.length).toBeLessThan(300);
      expect(written.length).toBeGreaterThan(0);
      // The count of what was left out is written within seconds (by the next refusal, or a timer).
      await waitUntil('a summary of the refusals left out', async () => rows("id > ? AND kind = 'audit.suppressed'", before).length > 0);
      await new Promise((r) => setTimeout(r, 2_500)); // every worker's summary
      const summaries = rows("id > ? AND kind = 'audit.suppressed'", before);
      const left = summaries.reduce((n, r) => n + Number(/(\d+) refused requests/.exec(String(r.reasons))![1]), 0);
      const recorded = rows("id > ? AND kind = 'request.refused' AND reference LIKE '%/Flood%'", before).length;
      expect(left + recorded).toBe(600);
    });
  });

  describe('OCI conformance', () => {
    it('answers 404 MANIFEST_UNKNOWN for a reference that is not a valid tag', async () => {
      await expectOciError(await manifest('app/web', '.INVALID_MANIFEST_NAME'), 404, 'MANIFEST_UNKNOWN');
      expect((await manifest('app/web', '.INVALID_MANIFEST_NAME', { method: 'HEAD' })).status).toBe(404);
    });

    it('answers referrers of a digest the upstream does not have with an empty index, and a denied subject with 403', async () => {
      const res = await fetch(`${proxy.url}/v2/${UPSTREAM}/app/web/referrers/sha256:${'ef'.repeat(32)}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/vnd.oci.image.index.v1+json');
      expect(((await res.json()) as { manifests: unknown[] }).manifests).toEqual([]);
      const unsigned = await pushImage(registry.url, 'app/unsigned', '1');
      await expectOciError(await fetch(`${proxy.url}/v2/${UPSTREAM}/app/unsigned/referrers/${unsigned.digest}`), 403, 'DENIED');
    });
  });
});
