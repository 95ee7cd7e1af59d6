import { createHash, randomBytes } from 'node:crypto';

/** Push-agnostic OCI artifacts: a manifest, the blobs it references, and where to tag it. */

export const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  simpleSigning: 'application/vnd.dev.cosign.simplesigning.v1+json',
  dsseEnvelope: 'application/vnd.dsse.envelope.v1+json',
  bundleV03: 'application/vnd.dev.sigstore.bundle.v0.3+json',
} as const;

export interface Descriptor {
  mediaType: string;
  size: number;
  digest: string;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface OciArtifact {
  /** Raw manifest bytes, exactly as to be pushed. */
  readonly manifest: Buffer;
  readonly mediaType: string;
  /** sha256 of `manifest`. */
  readonly digest: string;
  /** Every blob the manifest references (config first), to push before the manifest. */
  readonly blobs: Buffer[];
  /** Tag to push under (e.g. `sha256-<hex>.sig`); referrers are pushed by digest and have none. */
  readonly tag?: string;
}

export function digestOf(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export function describeBlob(bytes: Buffer, mediaType: string, extra: Partial<Descriptor> = {}): Descriptor {
  return { mediaType, size: bytes.length, digest: digestOf(bytes), ...extra };
}

export function artifact(manifestObj: unknown, mediaType: string, blobs: Buffer[], tag?: string): OciArtifact {
  const manifest = Buffer.from(JSON.stringify(manifestObj));
  return { manifest, mediaType, digest: digestOf(manifest), blobs, ...(tag ? { tag } : {}) };
}

/** Descriptor of a pushed artifact, e.g. to use as a referrer `subject`. */
export function descriptorOf(a: Pick<OciArtifact, 'manifest' | 'mediaType'>): Descriptor {
  return describeBlob(a.manifest, a.mediaType);
}

/** cosign's tag for a digest: `sha256-<hex>[.suffix]`. */
export function cosignTag(digest: string, suffix?: 'sig' | 'att'): string {
  const tag = digest.replace(':', '-');
  return suffix ? `${tag}.${suffix}` : tag;
}

/** A tiny single-layer OCI image with unique content (the layer bytes need not be a real tarball). */
export function createTestImage(label = randomBytes(8).toString('hex'), tag = 'latest'): OciArtifact {
  const layer = Buffer.from(`portcullis test layer ${label}\n`);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Labels: { 'test.label': label } },
      rootfs: { type: 'layers', diff_ids: [digestOf(layer)] },
    }),
  );
  const manifest = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: describeBlob(config, MT.ociConfig),
    layers: [describeBlob(layer, MT.ociLayer)],
  };
  return artifact(manifest, MT.ociManifest, [config, layer], tag);
}
