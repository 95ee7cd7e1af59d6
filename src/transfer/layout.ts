/** The names an exported OCI image layout uses, shared by the writer and the reader. */

export const REF_NAME = 'org.opencontainers.image.ref.name';
/** Annotation on a referrer's index.json entry: the repository it belongs to (referrers carry no ref name). */
export const REPOSITORY_ANNOTATION = 'dev.portcullis.repository';
/** The summary artifact's `ref.name`: what the archive holds, signed, with the trust material that verified it. */
export const SUMMARY_REF = 'portcullis.export.summary';
export const SUMMARY_ARTIFACT_TYPE = 'application/vnd.portcullis.export.summary.v1+json';
export const SUMMARY_MEDIA_TYPE = 'application/vnd.portcullis.export.summary.v1+json';
export const SUMMARY_SIGNATURE_MEDIA_TYPE = 'application/vnd.portcullis.export.summary.signature.v1+json';
export const TRUSTED_ROOT_MEDIA_TYPE = 'application/vnd.dev.sigstore.trustedroot+json;version=0.1';
export const PUBLIC_KEY_MEDIA_TYPE = 'application/x-pem-file';
/** A layer's title annotation: which key or root file a blob is. */
export const TITLE = 'org.opencontainers.image.title';
export const EMPTY_CONFIG = { mediaType: 'application/vnd.oci.empty.v1+json', digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a', size: 2 };

export interface LayoutDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** One image the summary lists: its name, digest and every artifact digest carried with it. */
export interface SummaryImage {
  name: string;
  digest: string;
  mediaType: string;
  /** The exporter's decision, for people only: an importer judges again under its own policy. */
  exporterDecision: { outcome: string; rule: string | null; reasons: string[] };
  /** Child manifests (an index's platforms), config and layer digests. */
  contents: string[];
  /** Signature and attestation artifacts: `.sig`/`.att` tags and referrers, with their blobs. */
  artifacts: string[];
}

export interface ExportSummary {
  type: 'portcullis.export';
  version: 1;
  created: string;
  images: SummaryImage[];
  /** Keys (name → PEM) and trusted roots (name → blob digest) the exporter verified with. */
  trust: { keys: Record<string, string>; roots: Record<string, string> };
}
