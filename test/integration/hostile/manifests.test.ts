import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256, startFaultUpstream, type FaultUpstream } from '../../helpers/fault-upstream.js';
import { startProxy, type Proxy } from '../../helpers/proxy.js';

/**
 * Hostile manifests from the upstream. A real registry refuses to store most of these, so the fault
 * upstream serves them. Each gets a precise OCI error and the proxy keeps serving a good image.
 */
const UPSTREAM = 'upstream.test';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const ACCEPT = `${OCI_MANIFEST}, ${OCI_INDEX}`;

function imageManifest(extra: Record<string, unknown> = {}): Buffer {
  const config = Buffer.from('{}');
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: [],
      ...extra,
    }),
  );
}

describe('hostile manifests from the upstream', () => {
  let up: FaultUpstream;
  let proxy: Proxy;
  let dir: string;
  let good: string;

  beforeAll(async () => {
    up = await startFaultUpstream();
    good = up.addManifest('org/good', '1', { bytes: imageManifest(), mediaType: OCI_MANIFEST });
    dir = await mkdtemp(join(tmpdir(), 'hostile-manifests-'));
    proxy = await startProxy({ upstreams: [{ name: UPSTREAM, url: up.url, retries: 0 }], dataDir: dir, extra: { log: { level: 'error' } } });
  });

  afterAll(async () => {
    await proxy?.stop();
    await up?.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function pull(repo: string, ref: string): Promise<{ status: number; code?: string }> {
    const res = await fetch(`${proxy.url}/v2/${repo}/manifests/${ref}`, { headers: { accept: ACCEPT } });
    const text = await res.text();
    let code: string | undefined;
    try {
      code = (JSON.parse(text) as { errors?: Array<{ code: string }> }).errors?.[0]?.code;
    } catch {
      // a manifest body
    }
    return { status: res.status, code };
  }

  async function goodStillServed(): Promise<void> {
    expect((await pull('org/good', good)).status).toBe(200);
  }

  const cases: Array<[string, () => { bytes: Buffer; mediaType: string; claimedDigest?: string }, number, string]> = [
    ['over 4 MiB', () => ({ bytes: imageManifest({ annotations: { pad: 'x'.repeat(4 * 1024 * 1024 + 1) } }), mediaType: OCI_MANIFEST }), 400, 'MANIFEST_INVALID'],
    ['nested 100,000 levels deep', () => ({ bytes: Buffer.from(`{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","x":${'['.repeat(100_000)}${']'.repeat(100_000)}}`), mediaType: OCI_MANIFEST }), 400, 'MANIFEST_INVALID'],
    ['invalid JSON', () => ({ bytes: Buffer.from('{"schemaVersion":2,'), mediaType: OCI_MANIFEST }), 400, 'MANIFEST_INVALID'],
    ['JSON that is not an object', () => ({ bytes: Buffer.from('[1,2,3]'), mediaType: OCI_MANIFEST }), 400, 'MANIFEST_INVALID'],
    ['an unknown media type', () => ({ bytes: imageManifest({ mediaType: 'text/html' }), mediaType: 'text/html' }), 400, 'MANIFEST_INVALID'],
    ['a media type header that contradicts the body', () => ({ bytes: imageManifest(), mediaType: OCI_INDEX }), 400, 'MANIFEST_INVALID'],
    ['a Docker-Content-Digest that does not match', () => ({ bytes: imageManifest({ annotations: { a: 'b' } }), mediaType: OCI_MANIFEST, claimedDigest: sha256(Buffer.from('other')) }), 502, 'UPSTREAM_INVALID'],
  ];

  for (const [what, make, status, code] of cases) {
    it(`rejects a manifest with ${what} (${status} ${code}) and keeps serving`, async () => {
      const repo = `org/h${cases.findIndex((c) => c[0] === what)}`;
      const m = make();
      up.addManifest(repo, '1', m);
      // The upstream also answers for the digest it claims, with the same (non-matching) bytes.
      if (m.claimedDigest) up.addManifest(repo, m.claimedDigest, m);
      const got = await pull(repo, '1');
      expect(got).toEqual({ status, code });
      await goodStillServed();
    });
  }

  it('rejects an index whose child is served with other content than its digest (no loops through bad digests)', async () => {
    const child = imageManifest({ annotations: { child: 'yes' } });
    const childDigest = sha256(child);
    const index = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: childDigest, size: child.length }] }),
    );
    const indexDigest = up.addManifest('org/loop', '1', { bytes: index, mediaType: OCI_INDEX });
    // Serve the index itself under the child's digest: following it would go round in a circle.
    up.addManifest('org/loop', childDigest, { bytes: index, mediaType: OCI_INDEX });
    expect((await pull('org/loop', '1')).status).toBe(200);
    expect(await pull('org/loop', childDigest)).toEqual({ status: 502, code: 'UPSTREAM_INVALID' });
    expect((await pull('org/loop', indexDigest)).status).toBe(200);
    await goodStillServed();
  });
});
