import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditRows } from '../helpers/audit.js';
import { cli } from '../integration/admin/fixture.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { pushBlob, pushImage, pushIndex, pushManifest, startRegistry, type PushedImage, type Registry } from '../helpers/registry.js';
import { haveTools, waitUntil } from '../helpers/tools.js';
import { createAttestationReferrer, createSignatureArtifact, createTestPki, generateKey, referrersTagIndex, type OciArtifact, type TestKey } from '../helpers/pki/index.js';
import { removeTempDirs, tempDir, UPSTREAM } from './support.js';
import { CHROMIUM, launchBrowser, signIn } from './console-support.js';

/**
 * Prefetch end to end: a real distribution registry holding signed and unsigned images, the proxy serving with
 * a scheduled prefetch list, and `portcullis prefetch` run beside it on the same database and store. Allowed
 * images land in the store whole, refused ones leave nothing, and every decision is audited under the prefetch.
 */
const ADMIN = 'prefetch-admin-token-71c3';
const AUDITOR = 'prefetch-auditor-token-2b9e';
const PULLER = 'prefetch-puller-token-5d0a';
const hash = (t: string) => createHash('sha256').update(t).digest('hex');

interface Line {
  event: string;
  image?: string;
  result?: string;
  rule?: string | null;
  reasons?: string[];
  digest?: string | null;
  artifacts?: number;
  [k: string]: unknown;
}

describe.skipIf(!haveTools(['docker-registry']))('prefetch', () => {
  let registry: Registry;
  let proxy: Proxy;
  let acme: TestKey;
  const signed: Record<string, PushedImage> = {};
  let amd: PushedImage;
  let arm: PushedImage;
  let multiDigest: string;
  let unsigned: PushedImage;
  let sigBlobs: string[] = [];

  async function push(artifact: OciArtifact, repo: string): Promise<void> {
    for (const blob of artifact.blobs) await pushBlob(registry.url, repo, blob);
    await pushManifest(registry.url, repo, artifact.tag ?? artifact.digest, artifact.manifest, artifact.mediaType);
  }
  const sign = async (repo: string, digest: string) => {
    const sig = createSignatureArtifact({ digest, repository: `${UPSTREAM}/${repo}`, signer: acme });
    await push(sig, repo);
    return sig;
  };
  const storePath = (digest: string) => join(proxy.dataDir, 'store', 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7));
  const db = () => join(proxy.dataDir, 'portcullis.db');
  const prefetch = (...args: string[]) => cli(['prefetch', '--config', proxy.configPath, ...args]);
  const lines = (stdout: string) => stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);

  beforeAll(async () => {
    registry = await startRegistry({ dir: await tempDir('registry') });
    const pki = createTestPki();
    acme = generateKey('ecdsa-p256');
    for (const tag of ['1.0.0', '1.2.0', '2.0.0']) {
      signed[tag] = await pushImage(registry.url, 'nightly/app', tag, { layers: 2 });
      await sign('nightly/app', signed[tag]!.digest);
    }
    signed.cli = await pushImage(registry.url, 'team/app', '1', { layers: 2, layerSize: 256 * 1024 });
    const sig = await sign('team/app', signed.cli.digest);
    // An attestation bundle as an OCI referrer (the referrers tag-schema index) besides the cosign signature tag.
    const provenance = createAttestationReferrer({
      subject: { mediaType: signed.cli.mediaType, digest: signed.cli.digest, size: signed.cli.size }, signer: acme, provenance: { version: 'v1' },
    });
    await push(provenance, 'team/app');
    await push(referrersTagIndex(signed.cli.digest, [provenance]), 'team/app');
    sigBlobs = [...sig.blobs, ...provenance.blobs].map((b) => `sha256:${createHash('sha256').update(b).digest('hex')}`);
    amd = await pushImage(registry.url, 'team/multi', 'amd64', { platform: { os: 'linux', architecture: 'amd64' } });
    arm = await pushImage(registry.url, 'team/multi', 'arm64', { platform: { os: 'linux', architecture: 'arm64' } });
    multiDigest = (await pushIndex(registry.url, 'team/multi', '1', [amd, arm])).digest;
    await sign('team/multi', multiDigest);
    unsigned = await pushImage(registry.url, 'team/unsigned', '1', { layers: 2 });

    const dataDir = await tempDir('proxy');
    const trustedRoot = await pki.writeTrustedRoot(dataDir);
    proxy = await startProxy({
      upstreams: [{ name: UPSTREAM, url: registry.url }],
      policies: [{ name: 'signed', match: [`${UPSTREAM}/**`], mode: 'enforce', signatures: { anyOf: [{ key: 'acme-release' }] } }],
      dataDir,
      extra: {
        trust: { trustedRoot, keys: { 'acme-release': acme.publicKeyPem } },
        auth: {
          pull: 'anonymous',
          tokens: [
            { name: 'root', role: 'admin', tokenSha256: hash(ADMIN) },
            { name: 'audrey', role: 'auditor', tokenSha256: hash(AUDITOR) },
            { name: 'ci', role: 'puller', tokenSha256: hash(PULLER) },
          ],
        },
        prefetch: { interval: '1h', lists: [{ name: 'nightly', images: [{ repository: `${UPSTREAM}/nightly/app`, semver: '^1' }] }] },
      },
    });
  }, 120_000);

  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    await removeTempDirs();
  });

  it('caches allowed images whole, refuses the unsigned one with its reasons, and exits non-zero', async () => {
    const list = join(proxy.dataDir, 'images.txt');
    await writeFile(list, `# release images\n\n${UPSTREAM}/team/app:1   # signed\n${UPSTREAM}/team/unsigned:1\n`);
    const res = await prefetch('--file', list, `${UPSTREAM}/team/multi:1`);
    expect(res.code, res.stderr).toBe(3);
    const out = lines(res.stdout);
    const done = new Map(out.filter((l) => l.event === 'done').map((l) => [l.image, l]));
    expect(done.get(`${UPSTREAM}/team/app:1`)).toMatchObject({ result: 'cached', digest: signed.cli!.digest, decision: 'allow', artifacts: 2 });
    expect(done.get(`${UPSTREAM}/team/multi:1`)).toMatchObject({ result: 'cached', digest: multiDigest, manifests: 4 });
    const refused = done.get(`${UPSTREAM}/team/unsigned:1`)!;
    expect(refused).toMatchObject({ result: 'refused', decision: 'deny', rule: 'signed', digest: null });
    expect(refused.reasons!.join(' ')).toMatch(/signature/i);
    expect(out.at(-1)).toMatchObject({ event: 'summary', images: 3, cached: 2, refused: 1, failed: 0 });

    // Every blob of the allowed images is in the store, the signature's too; nothing of the refused image is.
    for (const image of [signed.cli!, amd, arm]) {
      for (const blob of [image.config, ...image.layers]) expect(existsSync(storePath(blob.digest)), blob.digest).toBe(true);
    }
    for (const blob of sigBlobs) expect(existsSync(storePath(blob)), blob).toBe(true);
    // Of the refused image no layer is fetched; its config, read to decide as for any pull, is never served.
    for (const blob of unsigned.layers) expect(existsSync(storePath(blob.digest)), blob.digest).toBe(false);
    const config = await fetch(`${proxy.url}/v2/${UPSTREAM}/team/unsigned/blobs/${unsigned.config.digest}`);
    expect(config.status).not.toBe(200);
    await config.arrayBuffer();

    // Each decision is audited with the person on the host as the prefetch's puller.
    const user = `prefetch:${userInfo().username}`;
    const manifests = auditRows(db(), "kind = 'pull.manifest' AND user = ?", user);
    expect(manifests.filter((e) => e.decision === 'deny').map((e) => e.repository)).toEqual([`${UPSTREAM}/team/unsigned`]);
    expect(manifests.filter((e) => e.decision === 'allow').map((e) => e.digest)).toEqual(
      expect.arrayContaining([signed.cli!.digest, multiDigest, amd.digest, arm.digest]),
    );
    const blobEvents = auditRows(db(), "kind = 'pull.blob' AND user = ?", user);
    expect(blobEvents.map((e) => e.digest)).toEqual(expect.arrayContaining(signed.cli!.layers.map((l) => l.digest)));
    expect(blobEvents.some((e) => e.repository === `${UPSTREAM}/team/unsigned`)).toBe(false);

    // A client pull afterwards is served from the cache: the upstream is not asked for the layers again.
    const layer = signed.cli!.layers[0]!;
    const before = await registry.countRequests(`/blobs/${layer.digest}`, 'GET');
    const pulled = await fetch(`${proxy.url}/v2/${UPSTREAM}/team/app/blobs/${layer.digest}`);
    expect(Buffer.from(await pulled.arrayBuffer()).equals(layer.bytes)).toBe(true);
    expect(await registry.countRequests(`/blobs/${layer.digest}`, 'GET')).toBe(before);
  }, 120_000);

  it('fetches only the platforms asked for, and a second run finds everything cached', async () => {
    const multi = await pushImage(registry.url, 'team/pick', 'arm64', { platform: { os: 'linux', architecture: 'arm64' } });
    const other = await pushImage(registry.url, 'team/pick', 'amd64', { platform: { os: 'linux', architecture: 'amd64' } });
    const index = await pushIndex(registry.url, 'team/pick', '1', [other, multi]);
    await sign('team/pick', index.digest);
    const first = await prefetch('--platforms', 'linux/arm64', `${UPSTREAM}/team/pick:1`);
    expect(first.code, first.stderr).toBe(0);
    expect(existsSync(storePath(multi.layers[0]!.digest))).toBe(true);
    expect(existsSync(storePath(other.layers[0]!.digest))).toBe(false);
    const blobGets = await registry.countRequests('/blobs/', 'GET');
    const again = await prefetch('--platforms', 'linux/arm64', `${UPSTREAM}/team/pick:1`);
    expect(again.code, again.stderr).toBe(0);
    expect(await registry.countRequests('/blobs/', 'GET')).toBe(blobGets);
  }, 120_000);

  it('reports an image the upstream does not have as failed, exiting 4', async () => {
    const res = await prefetch(`${UPSTREAM}/team/app:9.9`, `${UPSTREAM}/team/app:1`);
    expect(res.code, res.stderr).toBe(4);
    const done = lines(res.stdout).filter((l) => l.event === 'done');
    expect(done.map((l) => [l.image, l.result])).toEqual([[`${UPSTREAM}/team/app:9.9`, 'failed'], [`${UPSTREAM}/team/app:1`, 'cached']]);
    expect(done[0]!.reasons!.join(' ')).toMatch(/not found|unknown/i);
  }, 60_000);

  it('refuses a bad list before fetching anything, naming each line', async () => {
    const list = join(proxy.dataDir, 'bad.txt');
    await writeFile(list, [
      '# comment', '', `${UPSTREAM}/team/app:1`, `${UPSTREAM}/team/app:1`, `${UPSTREAM}/Team/App:1`, 'quay.io/x/y:1',
      `${UPSTREAM}/team/app:1 ${UPSTREAM}/team/multi:1`, `${UPSTREAM}/team/app:bad tag!`,
    ].join('\n'));
    const eventsBefore = auditRows(db()).length;
    const res = await prefetch('--file', list);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(`${list}:4: ${UPSTREAM}/team/app:1 repeats ${list}:3`);
    expect(res.stderr).toMatch(new RegExp(`${list}:5: .*invalid repository name`));
    expect(res.stderr).toMatch(new RegExp(`${list}:6: "quay.io" is not a configured upstream`));
    expect(res.stderr).toMatch(new RegExp(`${list}:7: .*one image per line`));
    expect(res.stderr).toMatch(new RegExp(`${list}:8: `));
    expect(res.stderr).not.toMatch(/:1: |:2: /);
    expect(auditRows(db()).length).toBe(eventsBefore);

    expect((await prefetch()).stderr).toMatch(/name images to prefetch/);
    expect((await prefetch('--file', join(proxy.dataDir, 'missing.txt'))).stderr).toMatch(/cannot read .*missing\.txt: ENOENT/);
    expect((await prefetch('--platforms', 'amd64', 'x')).stderr).toMatch(/--platforms: "amd64" is not a platform/);
    expect((await prefetch('--concurrency', '0', 'x')).code).toBe(2);
  }, 60_000);

  it('runs the scheduled list under prefetch:<list> and shows it at GET /api/v1/prefetch', async () => {
    const status = (token: string) => fetch(`${proxy.url}/api/v1/prefetch`, { headers: { authorization: `Bearer ${token}` } });
    type Status = { intervalMs: number; lists: Array<{ name: string; lastRun: { startedAt: string; cached: number; refused: number; failed: number } | null; nextRun: string | null; outcomes: Line[] }> };
    let body: Status | undefined;
    await waitUntil('the nightly list has run', async () => {
      body = (await (await status(AUDITOR)).json()) as Status;
      return body.lists[0]?.lastRun !== null;
    }, 60_000);
    const nightly = body!.lists[0]!;
    expect(nightly.name).toBe('nightly');
    expect(nightly.lastRun).toMatchObject({ cached: 2, refused: 0, failed: 0 });
    expect(nightly.outcomes.map((o) => [o.image, o.result])).toEqual([
      [`${UPSTREAM}/nightly/app:1.0.0`, 'cached'],
      [`${UPSTREAM}/nightly/app:1.2.0`, 'cached'],
    ]);
    expect(Date.parse(nightly.nextRun!) - Date.parse(nightly.lastRun!.startedAt)).toBe(3_600_000);
    for (const tag of ['1.0.0', '1.2.0']) expect(existsSync(storePath(signed[tag]!.layers[1]!.digest))).toBe(true);
    expect(existsSync(storePath(signed['2.0.0']!.layers[1]!.digest))).toBe(false);
    const events = auditRows(db(), "kind = 'pull.manifest' AND user = 'prefetch:nightly'");
    expect(events.map((e) => e.digest)).toEqual(expect.arrayContaining([signed['1.0.0']!.digest, signed['1.2.0']!.digest]));

    expect((await status(ADMIN)).status).toBe(200);
    expect((await status(PULLER)).status).toBe(403);
    expect((await fetch(`${proxy.url}/api/v1/prefetch`)).status).toBe(401);
    expect((await fetch(`${proxy.url}/api/v1/prefetch?x=1`, { headers: { authorization: `Bearer ${AUDITOR}` } })).status).toBe(400);
  }, 90_000);

  it.skipIf(!existsSync(CHROMIUM))('shows each list with its last run and outcomes on the console\'s Prefetch page', async () => {
    await waitUntil('the nightly list has run', async () => {
      const res = await fetch(`${proxy.url}/api/v1/prefetch`, { headers: { authorization: `Bearer ${AUDITOR}` } });
      return ((await res.json()) as { lists: Array<{ lastRun: unknown }> }).lists[0]?.lastRun != null;
    }, 60_000);
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      await signIn(page, `${proxy.url}/ui/`, { name: 'audrey', role: 'auditor', secret: AUDITOR });
      await page.getByRole('link', { name: 'Prefetch', exact: true }).click();
      const section = page.getByRole('region', { name: 'List nightly' });
      await expect.poll(() => section.locator('tr[data-result="cached"]').count()).toBe(2);
      expect(await section.locator('p.run').textContent()).toMatch(/^Last run .*: 2 cached, 0 refused, 0 failed\. Next run /);
      expect(await section.locator('tbody th').allTextContents()).toEqual([
        expect.stringContaining(`${UPSTREAM}/nightly/app:1.0.0`),
        expect.stringContaining(`${UPSTREAM}/nightly/app:1.2.0`),
      ]);
    } finally {
      await browser.close();
    }
  }, 90_000);
});
