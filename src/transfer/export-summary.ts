import { createPublicKey, sign, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { keyIdOf } from '../audit/checkpoint.js';
import type { TrustConfig } from '../config/types.js';
import { digestOf, type Digest } from '../oci/digest.js';
import { DEFAULT_ROOT } from '../verify/types.js';
import type { LayoutWriter } from './layout-writer.js';
import {
  EMPTY_CONFIG, PUBLIC_KEY_MEDIA_TYPE, REF_NAME, SUMMARY_ARTIFACT_TYPE, SUMMARY_MEDIA_TYPE, SUMMARY_REF,
  SUMMARY_SIGNATURE_MEDIA_TYPE, TITLE, TRUSTED_ROOT_MEDIA_TYPE, type ExportSummary, type LayoutDescriptor, type SummaryImage,
} from './layout.js';

/** The bytes an export summary's signature covers: a domain tag, then the summary as written. */
export function summaryPayload(summary: Buffer): Buffer {
  return Buffer.concat([Buffer.from('portcullis.export.v1\n'), summary]);
}

/**
 * Writes the summary artifact: what the archive holds, the keys and trusted roots that verified its
 * signatures (so a verifier on the far side has them offline), and, with `export.signingKey`, an Ed25519
 * signature over the summary. Returns its index.json entry.
 */
export async function writeSummary(
  writer: LayoutWriter,
  images: SummaryImage[],
  evidence: unknown[],
  trust: TrustConfig,
  signingKey: KeyObject | undefined,
): Promise<LayoutDescriptor> {
  const used = signersIn(evidence);
  const layers: LayoutDescriptor[] = [];
  const keys: Record<string, string> = {};
  for (const [name, pem] of Object.entries(trust.keys)) {
    if (!used.keys.has(name)) continue;
    keys[name] = pem;
    layers.push(await blob(writer, Buffer.from(pem), PUBLIC_KEY_MEDIA_TYPE, `keys/${name}.pem`));
  }
  const roots: Record<string, string> = {};
  const rootFiles: Record<string, string> = { ...(trust.trustedRoot !== 'public-good' && { [DEFAULT_ROOT]: trust.trustedRoot }), ...trust.roots };
  for (const [name, path] of Object.entries(rootFiles)) {
    if (!used.roots.has(name)) continue;
    const layer = await blob(writer, await readFile(path), TRUSTED_ROOT_MEDIA_TYPE, `roots/${name}.json`);
    roots[name] = layer.digest;
    layers.push(layer);
  }
  const summary: ExportSummary = { type: 'portcullis.export', version: 1, created: new Date().toISOString(), images, trust: { keys, roots } };
  const summaryBytes = Buffer.from(JSON.stringify(summary, null, 2));
  layers.unshift(await blob(writer, summaryBytes, SUMMARY_MEDIA_TYPE, 'summary.json'));
  if (signingKey) {
    const publicKey = createPublicKey(signingKey);
    const signature = {
      keyId: keyIdOf(publicKey),
      publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      signature: sign(null, summaryPayload(summaryBytes), signingKey).toString('base64'),
    };
    layers.splice(1, 0, await blob(writer, Buffer.from(JSON.stringify(signature, null, 2)), SUMMARY_SIGNATURE_MEDIA_TYPE, 'summary.sig.json'));
  }
  await writer.addBytes(EMPTY_CONFIG.digest as Digest, Buffer.from('{}'));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: SUMMARY_ARTIFACT_TYPE,
    config: EMPTY_CONFIG,
    layers,
  }));
  const digest = digestOf(manifest);
  await writer.addBytes(digest, manifest);
  return {
    mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: manifest.length, artifactType: SUMMARY_ARTIFACT_TYPE,
    annotations: { [REF_NAME]: SUMMARY_REF },
  };
}

async function blob(writer: LayoutWriter, bytes: Buffer, mediaType: string, title: string): Promise<LayoutDescriptor> {
  const digest = digestOf(bytes);
  await writer.addBytes(digest, bytes);
  return { mediaType, digest, size: bytes.length, annotations: { [TITLE]: title } };
}

/** Key names and root names that signed anything, from the decisions' evidence summaries. */
function signersIn(evidence: unknown[]): { keys: Set<string>; roots: Set<string> } {
  const keys = new Set<string>();
  const roots = new Set<string>();
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) return value.forEach(walk);
    if (!value || typeof value !== 'object') return;
    const record = value as Record<string, unknown>;
    if (record.signer && typeof record.signer === 'object') {
      const signer = record.signer as { key?: unknown; roots?: unknown };
      if (typeof signer.key === 'string') keys.add(signer.key);
      if (Array.isArray(signer.roots)) for (const r of signer.roots) if (typeof r === 'string') roots.add(r);
    }
    Object.values(record).forEach(walk);
  };
  walk(evidence);
  return { keys, roots };
}
