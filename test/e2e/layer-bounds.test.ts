import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditRows } from '../helpers/audit.js';
import { createTestPki, generateKey } from '../helpers/pki/index.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { pushBlob, pushImage, pushManifest, startRegistry, type Registry } from '../helpers/registry.js';
import { haveTools } from '../helpers/tools.js';
import { ACCEPT_ALL_MANIFESTS, expectOciError, OCI_INDEX, OCI_MANIFEST, removeTempDirs, sha256, tempDir, UPSTREAM } from './support.js';

/**
 * A manifest may list thousands of layers. What it lists is written to the database (blob links) only once the
 * manifest is served, and a manifest over `pull.maxLayers` is refused before anything of it is stored.
 */
const MAX_LAYERS = 100;

describe.skipIf(!haveTools(['docker-registry']))('manifests with many layers', () => {
  let registry: Registry;
  let proxy: Proxy;

  const manifest = (repo: string, ref: string) =>
    fetch(`${proxy.url}/v2/${UPSTREAM}/${repo}/manifests/${ref}`, { headers: { accept: ACCEPT_ALL_MANIFESTS } });
  const count = (sql: string, ...params: unknown[]) => {
    const db = new Database(join(proxy.dataDir, 'portcullis.db'), { readonly: true, fileMustExist: true });
    try {
      return (db.prepare(sql).get(...params) as { n: number }).n;
    } finally {
      db.close();
    }
  };

  /** A manifest listing `n` layers; `distinct` of them are different blobs (the rest repeat the first). */
  async function pushManyLayers(repo: string, tag: string, n: number, distinct: number): Promise<string> {
    const blobs = Array.from({ length: distinct }, () => randomBytes(16));
    for (const b of blobs) await pushBlob(registry.url, repo, b);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
    await pushBlob(registry.url, repo, config);
    const layers = Array.from({ length: n }, (_, i) => {
      const b = blobs[Math.min(i, distinct - 1)]!;
      return { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(b), size: b.length };
    });
    const bytes = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers,
    }));
    return pushManifest(registry.url, repo, tag, bytes, OCI_MANIFEST);
  }

  beforeAll(async () => {
    registry = await startRegistry({ dir: await tempDir('registry') });
    const dataDir = await tempDir('proxy');
    const trustedRoot = await createTestPki().writeTrustedRoot(dataDir);
    proxy = await startProxy({
      upstreams: [{ name: UPSTREAM, url: registry.url }],
      policies: [
        { name: 'signed', match: [`${UPSTREAM}/signed/*`], mode: 'enforce', signatures: { anyOf: [{ key: 'release' }] } },
        { name: 'open', match: [`${UPSTREAM}/open/*`], mode: 'allow' },
      ],
      dataDir,
      extra: { pull: { maxLayers: MAX_LAYERS }, trust: { trustedRoot, keys: { release: generateKey('ecdsa-p256').publicKeyPem } } },
    });
  });

  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    await removeTempDirs();
  });

  it('writes no blob links for a denied manifest, under any number of tags', async () => {
    for (let i = 0; i < 2; i++) {
      await pushManyLayers('signed/many', `t${i}`, MAX_LAYERS, 20);
      await expectOciError(await manifest('signed/many', `t${i}`), 403, 'DENIED');
    }
    expect(count("SELECT count(*) AS n FROM blob_links WHERE repository = 'signed/many'")).toBe(0);
  });

  it('links the blobs of a served manifest', async () => {
    const image = await pushImage(registry.url, 'open/app', '1', { layers: 3 });
    expect((await manifest('open/app', '1')).status).toBe(200);
    expect(count("SELECT count(*) AS n FROM blob_links WHERE repository = 'open/app'")).toBe(4);
    const res = await fetch(`${proxy.url}/v2/${UPSTREAM}/open/app/blobs/${image.layers[0]!.digest}`);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
  });

  it('refuses a manifest over pull.maxLayers with the reason, audited, and stores nothing of it', async () => {
    const digest = await pushManyLayers('open/huge', 'big', MAX_LAYERS + 1, 2);
    const error = await expectOciError(await manifest('open/huge', 'big'), 400, 'MANIFEST_INVALID');
    expect(error.message).toMatch(new RegExp(`lists ${MAX_LAYERS + 1} layers; at most ${MAX_LAYERS} are accepted \\(pull\\.maxLayers\\)`));
    expect(count('SELECT count(*) AS n FROM manifests WHERE digest = ?', digest)).toBe(0);
    expect(count("SELECT count(*) AS n FROM blob_links WHERE repository = 'open/huge'")).toBe(0);
    const rows = auditRows(join(proxy.dataDir, 'portcullis.db'), "repository = ? AND kind = 'pull.manifest'", `${UPSTREAM}/open/huge`);
    expect(rows.at(-1)!.status).toBe(400);
    expect(String(rows.at(-1)!.reasons)).toMatch(/pull\.maxLayers/);
    // At the limit it is served.
    await pushManyLayers('open/huge', 'fits', MAX_LAYERS, 2);
    expect((await manifest('open/huge', 'fits')).status).toBe(200);
  });

  it('refuses an index listing more than pull.maxLayers manifests before recording its children', async () => {
    const child = await pushImage(registry.url, 'open/wide', 'child');
    const entry = { mediaType: child.mediaType, digest: child.digest, size: child.size, platform: { os: 'linux', architecture: 'amd64' } };
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: Array.from({ length: MAX_LAYERS + 1 }, () => entry) }));
    const digest = await pushManifest(registry.url, 'open/wide', 'wide', index, OCI_INDEX);
    const error = await expectOciError(await manifest('open/wide', 'wide'), 400, 'MANIFEST_INVALID');
    expect(error.message).toMatch(new RegExp(`lists ${MAX_LAYERS + 1} manifests; at most ${MAX_LAYERS}`));
    expect(count('SELECT count(*) AS n FROM manifest_children WHERE parent = ?', digest)).toBe(0);
  });
});
