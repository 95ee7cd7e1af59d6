import { OciError } from './errors.js';
import { isDigest, type Digest } from './digest.js';
import { MANIFEST_MEDIA_TYPES, isArtifactLayerSet, isIndexMediaType } from './media-types.js';

/** Manifests larger than this are refused, as distribution and containerd do. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: { os?: string; architecture?: string; variant?: string };
}

export interface ParsedManifest {
  mediaType: string;
  isIndex: boolean;
  config?: Descriptor;
  layers: Descriptor[];
  /** For indexes: the manifests they list. */
  manifests: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
}

/**
 * Parses and validates a manifest's bytes. The bytes are never rewritten; this only reads them so the
 * proxy knows which blobs and child manifests an image references. Throws MANIFEST_INVALID on anything
 * hostile: oversize, invalid JSON, unknown or mismatched media type, malformed descriptors.
 */
export function parseManifest(bytes: Buffer, headerMediaType?: string): ParsedManifest {
  if (bytes.length > MAX_MANIFEST_BYTES) {
    throw new OciError('MANIFEST_INVALID', `manifest is ${bytes.length} bytes; the limit is ${MAX_MANIFEST_BYTES}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new OciError('MANIFEST_INVALID', 'manifest is not valid JSON');
  }
  if (!isObject(doc)) throw new OciError('MANIFEST_INVALID', 'manifest is not a JSON object');
  if (doc.schemaVersion !== 2) throw new OciError('MANIFEST_INVALID', 'only schemaVersion 2 manifests are supported');

  const bodyType = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  const header = headerMediaType?.split(';')[0]?.trim();
  let mediaType = bodyType ?? (header && MANIFEST_MEDIA_TYPES.includes(header) ? header : undefined);
  if (!mediaType) {
    // OCI manifests may omit mediaType; infer from shape.
    mediaType = Array.isArray(doc.manifests) ? MANIFEST_MEDIA_TYPES[1]! : MANIFEST_MEDIA_TYPES[0]!;
  }
  if (!MANIFEST_MEDIA_TYPES.includes(mediaType)) {
    throw new OciError('MANIFEST_INVALID', `unsupported manifest media type "${clip(mediaType)}"`);
  }
  if (bodyType && header && MANIFEST_MEDIA_TYPES.includes(header) && header !== bodyType) {
    throw new OciError('MANIFEST_INVALID', `manifest media type "${bodyType}" does not match Content-Type "${header}"`);
  }

  const isIndex = isIndexMediaType(mediaType);
  const parsed: ParsedManifest = { mediaType, isIndex, layers: [], manifests: [] };
  if (isIndex) {
    if (!Array.isArray(doc.manifests)) throw new OciError('MANIFEST_INVALID', 'index has no "manifests" array');
    parsed.manifests = doc.manifests.map((d, i) => descriptor(d, `manifests[${i}]`));
  } else {
    if (!Array.isArray(doc.layers)) throw new OciError('MANIFEST_INVALID', 'manifest has no "layers" array');
    parsed.config = descriptor(doc.config, 'config');
    parsed.layers = doc.layers.map((d, i) => descriptor(d, `layers[${i}]`));
  }
  if (doc.subject !== undefined) parsed.subject = descriptor(doc.subject, 'subject');
  if (typeof doc.artifactType === 'string') parsed.artifactType = doc.artifactType;
  if (isObject(doc.annotations)) parsed.annotations = stringMap(doc.annotations);
  return parsed;
}

/** The blobs a manifest makes available in its repository: its config and layers. */
export function referencedBlobs(manifest: ParsedManifest): Descriptor[] {
  return manifest.config ? [manifest.config, ...manifest.layers] : [...manifest.layers];
}

function descriptor(value: unknown, path: string): Descriptor {
  if (!isObject(value)) throw new OciError('MANIFEST_INVALID', `${path} is not a descriptor object`);
  const { mediaType, digest, size } = value;
  if (typeof mediaType !== 'string' || mediaType.length > 255) {
    throw new OciError('MANIFEST_INVALID', `${path}.mediaType is missing or invalid`);
  }
  if (typeof digest !== 'string' || !isDigest(digest)) throw new OciError('MANIFEST_INVALID', `${path}.digest is invalid`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new OciError('MANIFEST_INVALID', `${path}.size is invalid`);
  }
  const d: Descriptor = { mediaType, digest, size };
  if (typeof value.artifactType === 'string') d.artifactType = value.artifactType;
  if (isObject(value.annotations)) d.annotations = stringMap(value.annotations);
  if (isObject(value.platform)) {
    const p = value.platform;
    d.platform = {
      os: typeof p.os === 'string' ? p.os : undefined,
      architecture: typeof p.architecture === 'string' ? p.architecture : undefined,
      variant: typeof p.variant === 'string' ? p.variant : undefined,
    };
  }
  return d;
}

function stringMap(value: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) if (typeof v === 'string') out[k] = v;
  return out;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function clip(value: string): string {
  return value.length > 80 ? `${value.slice(0, 80)}…` : value;
}

/**
 * Whether a manifest looks, by its descriptors, like a signature, attestation or SBOM artifact: every layer
 * has a known non-executable artifact media type, or (an index) every entry has an artifactType and no
 * platform. Media types are whatever the pusher wrote, so this is only the first filter: before such a
 * manifest takes its subject's decision, decide/artifact-proof.ts reads and parses every blob it lists and
 * every manifest an index lists.
 */
export function isNonRunnableArtifact(m: ParsedManifest): boolean {
  if (m.isIndex) return m.manifests.every((d) => d.artifactType !== undefined && d.platform === undefined);
  return isArtifactLayerSet(m.layers.map((l) => l.mediaType));
}
