import { digestHex, digestTag, type Digest } from '../oci/digest.js';
import { parseManifest, type Descriptor } from '../oci/manifest.js';
import type { SubjectManifest } from './types.js';
import { verifyBundleBytes } from './bundle-artifact.js';
import type { GuardedSource } from './guarded-source.js';
import type { VerifyContext } from './legacy-annotations.js';
import { MAX_LAYER_BYTES, type TagEvidence } from './legacy-tags.js';
import { toReason } from './verify-error.js';

export const MAX_REFERRERS = 64;
const BUNDLE_TYPE_PREFIX = 'application/vnd.dev.sigstore.bundle';

/**
 * Sigstore bundles attached as OCI 1.1 referrers: the referrers API, or the `sha256-<hex>` tag-schema index
 * when the upstream lacks it. Only manifests whose single layer is a bundle are considered (as cosign does).
 */
export async function gatherReferrers(subject: SubjectManifest, source: GuardedSource, ctx: VerifyContext): Promise<TagEvidence> {
  const out: TagEvidence = { signatures: [], attestations: [], rejected: [] };
  let indexBytes = await source.referrers(subject.digest);
  if (indexBytes === undefined) return out;
  if (indexBytes === null) {
    const tagged = await source.manifest(digestTag(subject.digest));
    if (!tagged) return out;
    indexBytes = tagged.bytes;
  }
  let listed: Descriptor[];
  try {
    const index = parseManifest(indexBytes);
    if (!index.isIndex) throw new Error('referrers list is not an image index');
    listed = index.manifests;
  } catch (err) {
    out.rejected.push({ source: 'referrer', reason: `MALFORMED: ${(err as Error).message}` });
    return out;
  }
  const candidates = listed.filter((d) => d.artifactType === undefined || d.artifactType.startsWith(BUNDLE_TYPE_PREFIX));
  if (candidates.length > MAX_REFERRERS) {
    out.rejected.push({ source: 'referrer', reason: `TOO_LARGE: ${candidates.length} referrers; only the first ${MAX_REFERRERS} are considered` });
  }
  for (const desc of candidates.slice(0, MAX_REFERRERS)) {
    await verifyReferrer(desc.digest, subject, source, ctx, out);
  }
  return out;
}

async function verifyReferrer(digest: Digest, subject: SubjectManifest, source: GuardedSource, ctx: VerifyContext, out: TagEvidence): Promise<void> {
  const reject = (reason: string) => out.rejected.push({ source: 'referrer', artifactDigest: digest, reason });
  const m = await source.manifest(digest);
  if (m === undefined) return;
  if (m === null) return void reject('MALFORMED: listed referrer manifest does not exist');
  let layer: Descriptor;
  try {
    const parsed = parseManifest(m.bytes, m.mediaType);
    const only = parsed.layers.length === 1 ? parsed.layers[0] : undefined;
    // Not a Sigstore bundle (an SBOM, a notation signature…): not evidence either way.
    if (parsed.isIndex || !only || !only.mediaType.startsWith(BUNDLE_TYPE_PREFIX)) return;
    if (parsed.subject && parsed.subject.digest !== subject.digest) {
      return void reject(`DIGEST_MISMATCH: referrer names subject ${parsed.subject.digest} not ${subject.digest}`);
    }
    layer = only;
  } catch (err) {
    return void reject(`MALFORMED: ${(err as Error).message}`);
  }
  if (layer.size > MAX_LAYER_BYTES) return void reject(`TOO_LARGE: bundle is ${layer.size} bytes; the limit is ${MAX_LAYER_BYTES}`);
  const blob = await source.blob(layer.digest, MAX_LAYER_BYTES);
  if (!blob) return;
  try {
    const found = verifyBundleBytes(
      blob,
      { subject: { digests: { sha256: digestHex(subject.digest) } }, artifact: subject.bytes, source: 'referrer', artifactDigest: m.digest },
      ctx,
    );
    out.signatures.push(...found.signatures);
    out.attestations.push(...found.attestations);
  } catch (err) {
    reject(toReason(err));
  }
}
