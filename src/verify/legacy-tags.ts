import { digestTag, type Digest } from '../oci/digest.js';
import { parseManifest } from '../oci/manifest.js';
import type { ArtifactSourceKind, RejectedArtifact, VerifiedAttestation, VerifiedSignature } from './types.js';
import { verifyAttLayer } from './att-layer.js';
import type { GuardedSource } from './guarded-source.js';
import type { VerifyContext } from './legacy-annotations.js';
import { verifySigLayer, type LegacyLayer } from './sig-layer.js';
import { toReason } from './verify-error.js';

export const MAX_LAYER_BYTES = 2 * 1024 * 1024;
export const MAX_LAYERS = 64;

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
    if (desc.size > MAX_LAYER_BYTES) {
      reject(`TOO_LARGE: layer ${i} is ${desc.size} bytes; the limit is ${MAX_LAYER_BYTES}`);
      continue;
    }
    const blob = await source.blob(desc.digest, MAX_LAYER_BYTES);
    if (!blob) continue;
    const layer: LegacyLayer = { mediaType: desc.mediaType, annotations: desc.annotations ?? {}, blob };
    try {
      if (kind === 'sig') out.signatures.push(...verifySigLayer(layer, subject, m.digest, ctx));
      else out.attestations.push(...verifyAttLayer(layer, subject, m.digest, ctx));
    } catch (err) {
      reject(`${toReason(err)} (layer ${i})`);
    }
  }
  return out;
}
