import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { rowHash, GENESIS_HASH } from '../../../src/audit/chain.js';
import { auditRows } from '../../helpers/audit.js';
import type { FaultUpstream } from '../../helpers/fault-upstream.js';

/** Shared bits of the fault suites: images on the fault upstream, store and audit inspection. */

export const UPSTREAM = 'upstream.test';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const ACCEPT = `${OCI_MANIFEST}, application/vnd.oci.image.index.v1+json`;

export interface FaultImage {
  digest: string;
  config: string;
  layers: string[];
}

/** Pushes config + layers + manifest onto the fault upstream under `repo:tag`. */
export function addImage(up: FaultUpstream, repo: string, tag: string, layers: Buffer[]): FaultImage {
  const configBytes = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const config = up.addBlob(configBytes);
  const layerDigests = layers.map((l) => up.addBlob(l));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: configBytes.length },
      layers: layers.map((l, i) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigests[i], size: l.length })),
    }),
  );
  const digest = up.addManifest(repo, tag, { bytes: manifest, mediaType: OCI_MANIFEST });
  return { digest, config, layers: layerDigests };
}

export async function getManifest(base: string, repo: string, ref: string, signal?: AbortSignal): Promise<Response> {
  return fetch(`${base}/v2/${repo}/manifests/${ref}`, { headers: { accept: ACCEPT }, signal });
}

/** GETs a blob and reads the whole body; `error` is set when the body broke off. */
export async function getBlob(base: string, repo: string, digest: string): Promise<{ status: number; bytes?: Buffer; error?: Error; body?: string }> {
  const res = await fetch(`${base}/v2/${repo}/blobs/${digest}`);
  if (res.status !== 200) return { status: res.status, body: await res.text() };
  try {
    return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()) };
  } catch (err) {
    return { status: res.status, error: err as Error };
  }
}

export function storePath(dataDir: string, digest: string): string {
  const hex = digest.split(':')[1]!;
  return join(dataDir, 'store', 'blobs', 'sha256', hex.slice(0, 2), hex);
}

export function isCached(dataDir: string, digest: string): boolean {
  return existsSync(storePath(dataDir, digest));
}

export function tempFiles(dataDir: string): string[] {
  const dir = join(dataDir, 'store', 'tmp');
  return existsSync(dir) ? readdirSync(dir) : [];
}

/** Audit rows (read-only connection; the proxy may still be running). */
export { auditRows };

/** Recomputes the hash chain over every row in id order; returns the first broken id, or null. */
export function brokenChainAt(dbPath: string): number | null {
  let prev = GENESIS_HASH;
  for (const row of auditRows(dbPath)) {
    const { hash, prev_hash, ...content } = row;
    if (prev_hash !== prev || rowHash(prev_hash, content) !== hash) return row.id;
    prev = hash;
  }
  return null;
}

export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
