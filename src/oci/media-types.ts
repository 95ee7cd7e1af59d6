export const MEDIA_TYPES = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  cosignSimpleSigning: 'application/vnd.dev.cosign.simplesigning.v1+json',
  dsseEnvelope: 'application/vnd.dsse.envelope.v1+json',
  sigstoreBundleV03: 'application/vnd.dev.sigstore.bundle.v0.3+json',
} as const;

export const MANIFEST_MEDIA_TYPES: readonly string[] = [
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.dockerManifest,
  MEDIA_TYPES.dockerManifestList,
];

export const INDEX_MEDIA_TYPES: readonly string[] = [MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerManifestList];

/** What the proxy asks upstreams for: every manifest type we can serve, so nothing is converted. */
export const UPSTREAM_ACCEPT = MANIFEST_MEDIA_TYPES.join(', ');

export function isIndexMediaType(mediaType: string): boolean {
  return INDEX_MEDIA_TYPES.includes(mediaType);
}

/**
 * Whether a client's Accept header admits a manifest media type. Clients that send no Accept, or a
 * wildcard, take anything; otherwise the type must be listed (parameters and q-values ignored).
 */
export function acceptsMediaType(acceptHeader: string | string[] | undefined, mediaType: string): boolean {
  if (!acceptHeader) return true;
  const values = (Array.isArray(acceptHeader) ? acceptHeader.join(',') : acceptHeader)
    .split(',')
    .map((v) => v.split(';')[0]!.trim().toLowerCase())
    .filter(Boolean);
  if (values.length === 0) return true;
  return values.some((v) => v === '*/*' || v === mediaType || v === 'application/*');
}

/**
 * Layer media types that hold signatures, attestations or SBOMs and that no container runtime unpacks. A
 * manifest whose every layer is one of these cannot run, so it may take the decision of its subject.
 * Compared without parameters (`;version=0.3`) and case-insensitively.
 */
export const ARTIFACT_LAYER_MEDIA_TYPES: ReadonlySet<string> = new Set([
  MEDIA_TYPES.cosignSimpleSigning,
  MEDIA_TYPES.dsseEnvelope,
  MEDIA_TYPES.sigstoreBundleV03,
  'application/vnd.dev.sigstore.bundle+json',
  'application/vnd.in-toto+json',
  MEDIA_TYPES.ociEmpty,
  // SBOMs (cosign attach sbom, oras, syft).
  'text/spdx',
  'text/spdx+json',
  'text/spdx+xml',
  'application/spdx+json',
  'application/vnd.cyclonedx',
  'application/vnd.cyclonedx+json',
  'application/vnd.cyclonedx+xml',
  'application/vnd.syft+json',
  // Notary Project signatures.
  'application/jose+json',
  'application/cose',
]);

function bareMediaType(mediaType: string): string {
  return mediaType.split(';')[0]!.trim().toLowerCase();
}

/** Whether every layer of a (non-index) manifest is a known non-executable artifact type; an empty manifest is not. */
export function isArtifactLayerSet(layerMediaTypes: readonly string[]): boolean {
  return layerMediaTypes.length > 0 && layerMediaTypes.every((t) => ARTIFACT_LAYER_MEDIA_TYPES.has(bareMediaType(t)));
}
