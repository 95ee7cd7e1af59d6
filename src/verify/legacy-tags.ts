import { digestTag, type Digest } from '../oci/digest.js';
import { parseManifest } from '../oci/manifest.js';
import type { ArtifactSourceKind, RejectedArtifact, VerifiedAttestation, VerifiedSignature } from './types.js';
import { verifyAttLayer } from './att-layer.js';
import type { GuardedSource } from './guarded-source.js';
import type { VerifyContext } from './legacy-annotations.js';
import { verifySigLayer, type LegacyLayer } from './sig-layer.js';
import { toReason } from './verify-error.js';
import { isReportPredicate, MAX_REPORT_BYTES } from '../vuln/report/reduce.js';
import { INLINE_ENVELOPE_BYTES, readEnvelopeOffThread } from './report-off-thread.js';

export const MAX_LAYER_BYTES = 2 * 1024 * 1024;
export const MAX_LAYERS = 64;
/** A scan or VEX envelope: a MAX_REPORT_BYTES statement, base64-encoded, with room for its signatures. */
export const MAX_REPORT_LAYER_BYTES = Math.ceil((MAX_REPORT_BYTES * 4) / 3) + 64 * 1024;

export interface TagEvidence {
  signatures: VerifiedSignature[];
  attestations: VerifiedAttestation[];
  rejected: RejectedArtifact[];
}

/**
 * Reads cosign's `sha256-<hex>.sig` or `.att` manifest and verifies each layer on its own: one good layer
 * is enough (cosign semantics), bad layers are recorded with their reasons.
 */
export async function gatherLegacyTag(
  kind: 'sig' | 'att',
  subject: Digest,
  source: GuardedSource,
  ctx: VerifyContext,
): Promise<TagEvidence> {
  const out: TagEvidence = { signatures: [], attestations: [], rejected: [] };
  const src: ArtifactSourceKind = kind === 'sig' ? 'sig-tag' : 'att-tag';
  const m = await source.manifest(digestTag(subject, kind));
  if (!m) return out;
  const reject = (reason: string) => out.rejected.push({ source: src, artifactDigest: m.digest, reason });
  let layers;
  try {
    const parsed = parseManifest(m.bytes, m.mediaType);
    if (parsed.isIndex) return reject(`MALFORMED: ${kind} tag holds an index, not a manifest`), out;
    layers = parsed.layers;
  } catch (err) {
    reject(`MALFORMED: ${(err as Error).message}`);
    return out;
  }
  if (layers.length > MAX_LAYERS) reject(`TOO_LARGE: ${layers.length} layers; only the first ${MAX_LAYERS} are considered`);
  for (const [i, desc] of layers.slice(0, MAX_LAYERS).entries()) {
    // Scans and VEX documents (cosign's `predicateType` layer annotation says which) may be far larger.
    const report = kind === 'att' && isReportPredicate(desc.annotations?.predicateType);
    const limit = report ? MAX_REPORT_LAYER_BYTES : MAX_LAYER_BYTES;
    if (desc.size > limit) {
      reject(`TOO_LARGE: layer ${i} is ${desc.size} bytes; the limit is ${limit}`);
      continue;
    }
    const blob = await source.blob(desc.digest, limit);
    if (!blob) continue;
    const layer: LegacyLayer = { mediaType: desc.mediaType, annotations: desc.annotations ?? {}, blob };
    try {
      if (kind === 'sig') out.signatures.push(...verifySigLayer(layer, subject, m.digest, ctx));
      else {
        const size = blob.length;
        const read = report && size > INLINE_ENVELOPE_BYTES ? await readEnvelopeOffThread(blob, subject.slice('sha256:'.length)) : undefined;
        // The annotation bought the read, not the acceptance: past the ordinary limit only a report may pass.
        if (read && size > MAX_LAYER_BYTES && !isReportPredicate(read.statement.predicateType)) {
          reject(`TOO_LARGE: layer ${i} is ${size} bytes, over ${MAX_LAYER_BYTES}, but its statement is ${read.statement.predicateType}; only scan and VEX reports may be larger`);
          continue;
        }
        out.attestations.push(...verifyAttLayer(layer, subject, m.digest, ctx, read));
      }
    } catch (err) {
      reject(`${toReason(err)} (layer ${i})`);
    }
  }
  return out;
}
