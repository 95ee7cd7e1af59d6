import { createHash, generateKeyPairSync } from 'node:crypto';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditRows } from '../helpers/audit.js';
import { ctrContentDigests, ctrImages, ctrPull, readCopiedImage, runCommand, skopeoCopy, startContainerd, writeHostsToml, type Containerd } from '../helpers/clients.js';
import { blobName, indexOf, readArchive, writeArchive } from '../helpers/oci-archive.js';
import { CLI, startProxy, type Proxy } from '../helpers/proxy.js';
import { pushBlob, pushImage, pushIndex, pushManifest, startRegistry, type PushedImage, type PushedIndex, type Registry } from '../helpers/registry.js';
import { createSignatureArtifact, createSignatureReferrer, createTestPki, generateKey, referrersTagIndex, type OciArtifact } from '../helpers/pki/index.js';
import { haveRoot, haveTools, waitUntil } from '../helpers/tools.js';
import { removeTempDirs, tempDir, UPSTREAM } from './support.js';

const execFileP = promisify(execFile);
const skip = !haveTools(['docker-registry', 'skopeo']);
const withContainerd = !skip && haveTools(['containerd', 'ctr']) && haveRoot();

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  lines: Array<Record<string, unknown>>;
}

/** Runs the built CLI; the exit code is part of the answer, not an exception. */
async function cli(args: string[], cwd?: string): Promise<Run> {
  let code = 0;
  let stdout = '';
  let stderr = '';
  try {
    ({ stdout, stderr } = await execFileP(process.execPath, [CLI, ...args], { cwd, timeout: 120_000, maxBuffer: 64 * 1024 * 1024 }));
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    code = typeof e.code === 'number' ? e.code : -1;
    stdout = e.stdout ?? '';
    stderr = e.stderr ?? '';
  }
  const lines = stdout.split('\n').flatMap((l) => {
    try {
      return [JSON.parse(l) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
  return { code, stdout, stderr, lines };
}

/**
 * Across the air gap: a connected instance prefetches, judges and exports from its cache, a second with no
 * upstream imports under its own policy, and real clients pull from the second. Altered archives are refused
 * with their reasons.
 */
describe.skipIf(skip)('export and import across the air gap', () => {
  let registry: Registry;
  let connected: Proxy;
  let airGapped: Proxy;
  let work: string;
  let bundle: string;
  let app: PushedImage;
  let index: PushedIndex;
  let amd64: PushedImage;
  let arm64: PushedImage;
  let unsigned: PushedImage;

  const GITHUB = 'https://token.actions.githubusercontent.com';
  const RELEASE = 'https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0.0';
  const POLICIES = [
    { name: 'signed', match: [`${UPSTREAM}/signed/**`], mode: 'enforce', signatures: { anyOf: [{ key: 'acme' }] } },
    { name: 'bundled', match: [`${UPSTREAM}/bundled/**`], mode: 'enforce', signatures: { anyOf: [{ keyless: { issuer: GITHUB, subject: RELEASE } }] } },
  ];
  let trustedRoot: string;
  let bundled: PushedImage;

  /** Upstream paths of every blob the exported images and their artifacts hold. */
  const exportedBlobs: string[] = [];
  const blobPath = (repo: string, digest: string) => `/v2/${repo}/blobs/${digest}`;
  const imageBlobs = (repo: string, image: PushedImage) => [image.config, ...image.layers].map((b) => blobPath(repo, b.digest));

  async function push(artifact: OciArtifact, repo: string): Promise<void> {
    for (const b of artifact.blobs) {
      await pushBlob(registry.url, repo, b);
      exportedBlobs.push(blobPath(repo, `sha256:${createHash('sha256').update(b).digest('hex')}`));
    }
    await pushManifest(registry.url, repo, artifact.tag ?? artifact.digest, artifact.manifest, artifact.mediaType);
  }

  async function airGappedInstance(): Promise<Proxy> {
    return startProxy({
      policies: POLICIES,
      extra: { trust: { keys: { acme: acme.publicKeyPem }, trustedRoot } },
      upstreams: [{ name: UPSTREAM, url: 'http://127.0.0.1:9' }],
      dataDir: await tempDir('gapped'),
    });
  }

  let acme: ReturnType<typeof generateKey>;

  beforeAll(async () => {
    work = await tempDir('bundle');
    bundle = join(work, 'bundle.tar');
    registry = await startRegistry({ dir: await tempDir('registry') });
    acme = generateKey('ecdsa-p256');
    app = await pushImage(registry.url, 'signed/app', '1', { layers: 2 });
    await push(createSignatureArtifact({ digest: app.digest, repository: `${UPSTREAM}/signed/app`, signer: acme }), 'signed/app');
    amd64 = await pushImage(registry.url, 'signed/multi', 'amd64', { layers: 1 });
    arm64 = await pushImage(registry.url, 'signed/multi', 'arm64', { layers: 1, platform: { os: 'linux', architecture: 'arm64' } });
    index = await pushIndex(registry.url, 'signed/multi', '1', [amd64, arm64]);
    await push(createSignatureArtifact({ digest: index.digest, repository: `${UPSTREAM}/signed/multi`, signer: acme }), 'signed/multi');
    unsigned = await pushImage(registry.url, 'signed/unsigned', '1', { layers: 1 });
    // Keyless, as a Sigstore bundle referrer (the registry lists it through the tag-schema index).
    const pki = createTestPki();
    trustedRoot = await pki.writeTrustedRoot(work);
    bundled = await pushImage(registry.url, 'bundled/app', '1', { layers: 1 });
    const referrer = createSignatureReferrer({
      subject: { mediaType: bundled.mediaType, digest: bundled.digest, size: bundled.size },
      signer: pki.fulcio.issue({ uri: RELEASE, issuer: GITHUB }),
      rekor: pki.rekor,
    });
    await push(referrer, 'bundled/app');
    await push(referrersTagIndex(bundled.digest, [referrer]), 'bundled/app');
    exportedBlobs.push(...imageBlobs('signed/app', app), ...imageBlobs('signed/multi', amd64), ...imageBlobs('signed/multi', arm64), ...imageBlobs('bundled/app', bundled));
    const exporterKey = join(work, 'export-key.pem');
    await writeFile(exporterKey, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }));
    connected = await startProxy({
      policies: POLICIES,
      extra: { trust: { keys: { acme: acme.publicKeyPem }, trustedRoot }, export: { signingKey: exporterKey } },
      upstreams: [{ name: UPSTREAM, url: registry.url }],
      dataDir: await tempDir('connected'),
    });
    airGapped = await airGappedInstance();
  }, 120_000);

  afterAll(async () => {
    await airGapped?.stop();
    await connected?.stop();
    await registry?.stop();
    await removeTempDirs();
  });

  it('prefetches the release images on the connected instance, judged and audited under the prefetch', async () => {
    const images = [`${UPSTREAM}/signed/app:1`, `${UPSTREAM}/signed/multi:1`, `${UPSTREAM}/bundled/app:1`];
    const run = await cli(['prefetch', '--config', connected.configPath, ...images]);
    expect(run.code, run.stderr + run.stdout).toBe(0);
    // Images are fetched side by side: each says it is done as it finishes.
    const done = run.lines.filter((l) => l.event === 'done').sort((a, b) => images.indexOf(String(a.image)) - images.indexOf(String(b.image)));
    expect(done.map((l) => [l.image, l.result, l.digest])).toEqual([
      [images[0], 'cached', app.digest], [images[1], 'cached', index.digest], [images[2], 'cached', bundled.digest],
    ]);
    const store = (digest: string) => join(connected.dataDir, 'store', 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7));
    for (const path of exportedBlobs) expect(existsSync(store(path.slice(path.lastIndexOf('/') + 1))), path).toBe(true);

    const user = `prefetch:${userInfo().username}`;
    const manifests = auditRows(join(connected.dataDir, 'portcullis.db'), "kind = 'pull.manifest' AND user = ?", user);
    expect(manifests.every((r) => r.decision === 'allow')).toBe(true);
    expect(manifests.map((r) => r.digest)).toEqual(expect.arrayContaining([app.digest, index.digest, amd64.digest, arm64.digest, bundled.digest]));
    const blobs = auditRows(join(connected.dataDir, 'portcullis.db'), "kind = 'pull.blob' AND user = ?", user);
    expect(blobs.map((r) => r.digest)).toEqual(expect.arrayContaining([...app.layers, ...arm64.layers, ...bundled.layers].map((l) => l.digest)));
  }, 120_000);

  it('exports judged images with every platform and their signatures into an archive skopeo reads', async () => {
    // Every layer the prefetch fetched is in the registry's access log before it is counted.
    const layerPaths = exportedBlobs.filter((p) => [...app.layers, ...amd64.layers, ...arm64.layers, ...bundled.layers].some((l) => p.endsWith(l.digest)));
    await waitUntil('the prefetch\'s layer requests in the registry log', async () => {
      const gets = (await registry.requests()).filter((r) => r.method === 'GET');
      return layerPaths.every((p) => gets.some((r) => r.path === p));
    }, 30_000);
    const blobGets = async () => (await registry.requests()).filter((r) => r.method === 'GET' && r.path.includes('/blobs/')).map((r) => r.path);
    const before = await blobGets();
    const list = join(work, 'images.txt');
    await writeFile(list, `# release\n${UPSTREAM}/bundled/app:1\n\n${UPSTREAM}/signed/app:1  # duplicate of an argument\n`);
    const run = await cli(['export', '--config', connected.configPath, '--out', bundle, `${UPSTREAM}/signed/app:1`, `${UPSTREAM}/signed/multi:1`, '--file', list]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.lines.filter((l) => l.decision === 'allow').map((l) => l.image)).toEqual([`${UPSTREAM}/signed/app:1`, `${UPSTREAM}/signed/multi:1`, `${UPSTREAM}/bundled/app:1`]);
    expect((await readdir(work)).filter((f) => f.includes('partial'))).toEqual([]);
    // It was carried from the prefetched cache: not one blob was fetched from the upstream again.
    expect(await blobGets()).toEqual(before);

    const entries = await readArchive(bundle);
    expect(JSON.parse(entries.get('oci-layout')!.toString())).toEqual({ imageLayoutVersion: '1.0.0' });
    const names = indexOf(entries).manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name']);
    expect(names).toContain(`${UPSTREAM}/signed/app:1`);
    expect(names).toContain(`${UPSTREAM}/signed/app:sha256-${app.digest.slice(7)}.sig`);
    expect(names).toContain(`${UPSTREAM}/signed/multi:sha256-${index.digest.slice(7)}.sig`);
    expect(names).toContain('portcullis.export.summary');
    // The bundle referrer travels with its subject, and the key and trusted root that verified them ride in the summary.
    const referrers = indexOf(entries).manifests.filter((m) => m.annotations?.['dev.portcullis.repository'] === `${UPSTREAM}/bundled/app`);
    expect(referrers).toHaveLength(1);
    const summaryEntry = indexOf(entries).manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === 'portcullis.export.summary')!;
    const summaryManifest = JSON.parse(entries.get(blobName(summaryEntry.digest))!.toString()) as { layers: Array<{ digest: string; annotations: Record<string, string> }> };
    const titles = summaryManifest.layers.map((l) => l.annotations['org.opencontainers.image.title']);
    expect(titles).toEqual(['summary.json', 'summary.sig.json', 'keys/acme.pem', 'roots/default.json']);
    const rootLayer = summaryManifest.layers.find((l) => l.annotations['org.opencontainers.image.title'] === 'roots/default.json')!;
    expect(entries.get(blobName(rootLayer.digest))!.equals(await readFile(trustedRoot))).toBe(true);
    for (const blob of [arm64.config, ...arm64.layers, ...app.layers]) expect(entries.has(blobName(blob.digest))).toBe(true);

    // skopeo reads it through its oci-archive transport, by the names in index.json.
    const copy = await tempDir('skopeo-archive');
    await runCommand('skopeo', ['--insecure-policy', 'copy', `oci-archive:${bundle}:${UPSTREAM}/signed/app:1`, `oci:${copy}`]);
    const copied = await readCopiedImage(copy);
    expect(copied.manifestDigest).toBe(app.digest);
    const { stdout } = await runCommand('skopeo', ['inspect', '--raw', `oci-archive:${bundle}:${UPSTREAM}/signed/multi:1`]);
    expect(JSON.parse(stdout).manifests).toHaveLength(2);

    // The exporter's audit log records the judged pulls it made.
    const rows = auditRows(join(connected.dataDir, 'portcullis.db'), "kind = 'pull.manifest' AND user LIKE 'export:%'");
    expect(rows.length).toBeGreaterThanOrEqual(4);
  }, 120_000);

  it('refuses to export an unsigned image and writes nothing', async () => {
    const out = join(work, 'refused.tar');
    const run = await cli(['export', '--config', connected.configPath, '--out', out, `${UPSTREAM}/signed/app:1`, `${UPSTREAM}/signed/unsigned:1`]);
    expect(run.code).toBe(3);
    const refused = run.lines.find((l) => l.image === `${UPSTREAM}/signed/unsigned:1`);
    expect(refused?.decision).toBe('deny');
    expect(String(refused?.reasons)).toMatch(/no signature by key "acme"/);
    expect(existsSync(out)).toBe(false);
    expect((await readdir(work)).filter((f) => f.includes('partial'))).toEqual([]);
  }, 120_000);

  it('imports on an instance without upstream, under its own policy, and clients pull from it offline', async () => {
    const run = await cli(['import', '--config', airGapped.configPath, bundle]);
    expect(run.code, run.stderr + run.stdout).toBe(0);
    expect(run.lines.filter((l) => l.decision === 'allow')).toHaveLength(3);
    const summary = run.lines.at(-1)!;
    expect(summary).toMatchObject({ loaded: 3, refused: 0, summarySignature: { valid: true } });

    // The tag resolves to the imported digest with the upstream unreachable.
    const dest = await tempDir('pulled');
    await skopeoCopy(`${airGapped.host}/${UPSTREAM}/signed/app:1`, dest);
    expect((await readCopiedImage(dest)).manifestDigest).toBe(app.digest);
    const arm = await tempDir('pulled-arm');
    await skopeoCopy(`${airGapped.host}/${UPSTREAM}/signed/multi:1`, arm, { overrideArch: 'arm64', overrideOs: 'linux' });
    expect((await readCopiedImage(arm)).manifestDigest).toBe(arm64.digest);

    const imports = auditRows(join(airGapped.dataDir, 'portcullis.db'), "kind = 'import.image'");
    expect(imports.map((r) => r.decision)).toEqual(['allow', 'allow', 'allow']);
    const keyless = await tempDir('pulled-keyless');
    await skopeoCopy(`${airGapped.host}/${UPSTREAM}/bundled/app:1`, keyless);
    expect((await readCopiedImage(keyless)).manifestDigest).toBe(bundled.digest);
    expect(imports.every((r) => String(r.user).startsWith('import:'))).toBe(true);
  }, 120_000);

  it.skipIf(!withContainerd)('containerd pulls the imported image through the air-gapped instance as a mirror', async () => {
    let containerd: Containerd | undefined;
    try {
      containerd = await startContainerd({ dir: await tempDir('containerd') });
      const hostsDir = await writeHostsToml(join(containerd.dir, 'hosts.d'), UPSTREAM, airGapped.url);
      await ctrPull(containerd.socket, `${UPSTREAM}/signed/multi:1`, { hostsDir, platform: 'linux/arm64' });
      const image = (await ctrImages(containerd.socket)).find((i) => i.ref === `${UPSTREAM}/signed/multi:1`);
      expect(image?.digest).toBe(index.digest);
      const content = await ctrContentDigests(containerd.socket);
      for (const layer of arm64.layers) expect(content).toContain(layer.digest);
    } finally {
      await containerd?.stop();
    }
  }, 120_000);

  it.skipIf(!haveRoot())('removes the partial archive when the disk fills, and says so', async () => {
    const small = await tempDir('full-disk');
    await runCommand('mount', ['-t', 'tmpfs', '-o', 'size=4k', 'tmpfs', small]);
    try {
      const out = join(small, 'bundle.tar');
      const run = await cli(['export', '--config', connected.configPath, '--out', out, `${UPSTREAM}/signed/app:1`]);
      expect(run.code).toBe(4);
      expect(run.stderr).toMatch(/writing .*bundle\.tar failed \(the disk is full\); the partial archive was removed and nothing was written/);
      expect(await readdir(small)).toEqual([]);
    } finally {
      await runCommand('umount', [small]);
    }
  }, 120_000);

  it('an interrupted export leaves neither the archive nor its temp file', async () => {
    const out = join(work, 'interrupted.tar');
    const child = spawn(process.execPath, [CLI, 'export', '--config', connected.configPath, '--out', out,
      `${UPSTREAM}/signed/app:1`, `${UPSTREAM}/signed/multi:1`, `${UPSTREAM}/bundled/app:1`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code, stderr).toBe(4);
    expect(stderr).toMatch(/interrupted; nothing was written/);
    expect(existsSync(out)).toBe(false);
    expect((await readdir(work)).filter((f) => f.includes('partial'))).toEqual([]);
  }, 120_000);

  it('an interrupted import tags nothing; run again, it completes', async () => {
    const fresh = await airGappedInstance();
    try {
      const child = spawn(process.execPath, [CLI, 'import', '--config', fresh.configPath, bundle], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      // Interrupted once the first image is in, while the second is being loaded.
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      child.kill('SIGINT');
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      expect(code, stderr).toBe(4);
      expect(stderr).toMatch(/interrupted: no tag was written/);
      for (const repo of ['signed/app', 'signed/multi']) {
        const res = await fetch(`${fresh.url}/v2/${UPSTREAM}/${repo}/manifests/1`);
        expect(res.status, repo).not.toBe(200);
      }
      const again = await cli(['import', '--config', fresh.configPath, bundle]);
      expect(again.code, again.stderr).toBe(0);
      const res = await fetch(`${fresh.url}/v2/${UPSTREAM}/signed/app/manifests/1`, { headers: { accept: app.mediaType } });
      expect(res.status).toBe(200);
      expect(res.headers.get('docker-content-digest')).toBe(app.digest);
    } finally {
      await fresh.stop();
    }
  }, 180_000);

  it('refuses an altered archive image by image, with reasons, and tags none of the refused', async () => {
    const entries = await readArchive(bundle);
    const idx = indexOf(entries);
    // A changed layer of signed/app.
    const layer = blobName(app.layers[0]!.digest);
    const changed = Buffer.from(entries.get(layer)!);
    changed[changed.length - 1] ^= 0xff;
    entries.set(layer, changed);
    // signed/multi's signature removed.
    const sigName = `${UPSTREAM}/signed/multi:sha256-${index.digest.slice(7)}.sig`;
    idx.manifests = idx.manifests.filter((m) => m.annotations?.['org.opencontainers.image.ref.name'] !== sigName);
    // An unsigned image added.
    for (const blob of [unsigned.config, ...unsigned.layers]) entries.set(blobName(blob.digest), blob.bytes);
    entries.set(blobName(unsigned.digest), unsigned.manifest);
    idx.manifests.push({ mediaType: unsigned.mediaType, digest: unsigned.digest, size: unsigned.size, annotations: { 'org.opencontainers.image.ref.name': `${UPSTREAM}/signed/unsigned:1` } });
    entries.set('index.json', Buffer.from(JSON.stringify(idx)));
    const tampered = join(work, 'tampered.tar');
    await writeArchive(tampered, entries);

    const fresh = await airGappedInstance();
    try {
      const run = await cli(['import', '--config', fresh.configPath, tampered]);
      expect(run.code).toBe(3);
      const byName = (n: string) => run.lines.find((l) => l.image === `${UPSTREAM}/${n}`)!;
      expect(byName('signed/app:1').decision).toBe('deny');
      expect(String(byName('signed/app:1').reasons)).toMatch(new RegExp(`${layer} \\(layer\\) does not hash to its name`));
      expect(byName('signed/multi:1').decision).toBe('deny');
      expect(String(byName('signed/multi:1').reasons)).toMatch(/no signature by key "acme"/);
      expect(byName('signed/unsigned:1').decision).toBe('deny');
      expect(String(byName('signed/unsigned:1').reasons)).toMatch(/no signature by key "acme"/);
      expect(String(byName('signed/unsigned:1').reasons)).toMatch(/not listed in the archive's summary/);
      // Nothing refused is served: no tag points at it, and the upstream is out of reach.
      for (const ref of ['signed/app/manifests/1', 'signed/multi/manifests/1', 'signed/unsigned/manifests/1']) {
        const res = await fetch(`${fresh.url}/v2/${UPSTREAM}/${ref}`);
        expect(res.status, ref).not.toBe(200);
      }
      expect(byName('bundled/app:1').decision).toBe('allow');
      const imports = auditRows(join(fresh.dataDir, 'portcullis.db'), "kind = 'import.image'");
      expect(imports.map((r) => `${r.repository} ${r.decision}`)).toEqual([
        `${UPSTREAM}/signed/app deny`, `${UPSTREAM}/signed/multi deny`, `${UPSTREAM}/bundled/app allow`, `${UPSTREAM}/signed/unsigned deny`,
      ]);
    } finally {
      await fresh.stop();
    }
  }, 180_000);
});
