import { createPublicKey, verify } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { keyIdOf } from '../audit/checkpoint.js';
import { isObject } from '../oci/manifest.js';
import type { ExtractedLayout } from './archive-reader.js';
import { summaryPayload } from './export-summary.js';
import { REF_NAME, SUMMARY_MEDIA_TYPE, SUMMARY_REF, SUMMARY_SIGNATURE_MEDIA_TYPE } from './layout.js';

export interface ArchiveSummary {
  /** Image names the summary lists. */
  names: Set<string>;
  /** The key that signed it and whether the signature holds; absent when unsigned. Informational only. */
  signature?: { keyId: string; valid: boolean };
}

/**
 * The exporter's summary, read for the report: which images it listed and whether its signature holds under
 * the key it names. Nothing is trusted because of it; every image is judged again here.
 */
export async function readArchiveSummary(layout: ExtractedLayout): Promise<ArchiveSummary | undefined> {
  const entry = layout.manifests.find((m) => m.annotations?.[REF_NAME] === SUMMARY_REF);
  const manifest = entry ? await json(layout, entry.digest) : undefined;
  if (!isObject(manifest) || !Array.isArray(manifest.layers)) return undefined;
  const layers: unknown[] = manifest.layers;
  const layer = (type: string) => layers.find((l: unknown) => isObject(l) && l.mediaType === type) as { digest?: string } | undefined;
  const summaryBlob = layer(SUMMARY_MEDIA_TYPE)?.digest ? layout.blobs.get(layer(SUMMARY_MEDIA_TYPE)!.digest!) : undefined;
  if (!summaryBlob?.intact) return undefined;
  const bytes = await readFile(summaryBlob.file);
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
  const images = isObject(doc) && Array.isArray(doc.images) ? doc.images : [];
  const names = new Set(images.flatMap((i: unknown) => (isObject(i) && typeof i.name === 'string' ? [i.name] : [])));
  const sigDigest = layer(SUMMARY_SIGNATURE_MEDIA_TYPE)?.digest;
  const sig = sigDigest ? await json(layout, sigDigest) : undefined;
  if (!isObject(sig) || typeof sig.publicKey !== 'string' || typeof sig.signature !== 'string') return { names };
  try {
    const key = createPublicKey(sig.publicKey);
    return { names, signature: { keyId: keyIdOf(key), valid: verify(null, summaryPayload(bytes), key, Buffer.from(sig.signature, 'base64')) } };
  } catch {
    return { names, signature: { keyId: String(sig.keyId ?? 'unknown'), valid: false } };
  }
}

async function json(layout: ExtractedLayout, digest: string): Promise<unknown> {
  const blob = layout.blobs.get(digest);
  if (!blob?.intact) return undefined;
  try {
    return JSON.parse(await readFile(blob.file, 'utf8'));
  } catch {
    return undefined;
  }
}
