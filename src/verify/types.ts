import type { Digest } from '../oci/digest.js';
import type { ParsedManifest } from '../oci/manifest.js';
import type { ReportFacts } from '../vuln/report/types.js';

/**
 * What verification found out about one manifest digest, independent of any policy rule. Every
 * artifact is verified against all configured trust material (all keys, every trusted root); policy
 * then only compares identities, so a rule change needs no re-verification.
 */
export type Signer = { type: 'key'; key: string } | KeylessSigner | NotationSigner;

/** The name `trust.trustedRoot` goes by among the roots; a keyless entry without `root` means this one. */
export const DEFAULT_ROOT = 'default';

export interface KeylessSigner {
  type: 'keyless';
  /** The OIDC issuer extension; absent on certificates that carry none (GitHub release attestations). */
  issuer?: string;
  subject: string;
  /** The trusted roots the certificate chained to (`default` is trust.trustedRoot), with its required time and SCTs. */
  roots: string[];
  /** Fulcio extensions by sigstore-go name, e.g. `sourceRepositoryURI`. */
  extensions: Record<string, string>;
}

/** A Notary Project (Notation) signer: an X.509 chain that validated to named Notation trust stores. */
export interface NotationSigner {
  type: 'notation';
  /** The leaf's subject DN, RFC 4514 (`C=US, O=Acme, CN=release`). */
  subject: string;
  /** SHA-256 of the leaf certificate (lowercase hex): what a revocation names. */
  fingerprint: string;
  signingScheme: 'notary.x509' | 'notary.x509.signingAuthority';
  /** The stores (`ca:acme`, `signingAuthority:corp`) the chain validated to. */
  trustStores: string[];
  /**
   * Set when the certificates were valid only at the time of an RFC 3161 countersignature: the `tsa:` stores
   * it verified under. A rule must then name one of them in `tsa`.
   */
  timestampStores?: string[];
  envelope: 'jws' | 'cose';
  /** ISO time the envelope says it was signed (authentic under `notary.x509.signingAuthority`). */
  signingTime: string;
  expiry?: string;
}

export interface TlogEvidence {
  logIndex: number;
  /** ISO 8601 time the log integrated the entry (verified by SET or inclusion proof). */
  integratedTime: string;
  logId: string;
}

export type ArtifactSourceKind = 'sig-tag' | 'att-tag' | 'referrer';

export interface VerifiedSignature {
  source: ArtifactSourceKind;
  /** Digest of the signature manifest or bundle the signature came from. */
  artifactDigest: string;
  signer: Signer;
  tlog?: TlogEvidence;
  /** ISO time from a verified RFC 3161 timestamp. */
  timestamp?: string;
}

export interface ProvenanceFacts {
  predicateType: string;
  builderId?: string;
  sourceRepository?: string;
  /** The git ref built, e.g. `refs/heads/main` (v0.2 configSource.uri after `@`, v1 workflow.ref). */
  sourceRef?: string;
  /** Branch name built (`main`); for a GitHub tag push, the event's base_ref branch. */
  sourceBranch?: string;
  /** ISO time the build finished (v1 runDetails.metadata.finishedOn, v0.2 metadata.buildFinishedOn). */
  finishedOn?: string;
}

export interface VerifiedAttestation {
  source: ArtifactSourceKind;
  artifactDigest: string;
  signer: Signer;
  predicateType: string;
  /** sha256 of the in-toto statement bytes. */
  statementDigest: string;
  tlog?: TlogEvidence;
  timestamp?: string;
  provenance?: ProvenanceFacts;
  /** The verified statement's predicate, kept for policy conditions when the statement is small enough. */
  predicate?: unknown;
  /** The statement's `_type` and subjects, kept with the predicate. */
  statement?: { type: string; subject: Array<{ name?: string; digest: Record<string, string> }> };
  /** Why `predicate` was not kept (a statement over the size limit). */
  predicateOmitted?: string;
  /** A vulnerability scan or VEX predicate, reduced to what the vulnerability gate judges. */
  report?: ReportFacts;
  /** Why a scan or VEX predicate of a known type could not be read as one; the attestation still counts as such. */
  reportError?: string;
}

/** What an image manifest and its config say about the image, for policy conditions. */
export interface ImageFacts {
  mediaType: string;
  /** The manifest's annotations. */
  annotations: Record<string, string>;
  /** Layers as the manifest lists them (an index lists none). */
  layers: Array<{ mediaType: string; size: number; digest: string }>;
  /** The image config's `config` object; absent for an index, an artifact without a JSON config, or an unreadable config. */
  config?: ImageConfigFacts;
  /** The image config's `created`, as written. */
  created?: string;
  /** The image config's os, architecture and variant. */
  platform?: { os: string; architecture: string; variant: string };
}

/** The fields of an image config's `config` object that conditions may read (Docker/OCI names). */
export interface ImageConfigFacts {
  User: string;
  ExposedPorts: Record<string, Record<string, never>>;
  Env: string[];
  Entrypoint: string[];
  Cmd: string[];
  Labels: Record<string, string>;
  WorkingDir: string;
  Volumes: Record<string, Record<string, never>>;
  StopSignal: string;
}

export interface RejectedArtifact {
  source: ArtifactSourceKind;
  artifactDigest?: string;
  /** `<code>: <message>`, e.g. `SIGNATURE_INVALID: signature does not verify with any trusted key`. */
  reason: string;
}

export interface Evidence {
  subject: Digest;
  signatures: VerifiedSignature[];
  attestations: VerifiedAttestation[];
  rejected: RejectedArtifact[];
  /** The image config's `created`, when the subject is an image manifest. */
  configCreated?: string;
  /** Manifest and config facts for policy conditions (evidence gathered before they existed has none). */
  image?: ImageFacts;
  /**
   * Set when the image config could not be read: freshness and conditions depend on it, so the evaluator
   * fails closed on it only when a rule has maxAgeDays or a condition.
   */
  configError?: string;
  /** Set when evidence could not be gathered at all (upstream down, oversized artifact): fail closed. */
  gatherError?: string;
  /**
   * The `trust.referrers` bounds the referrers walk hit, each saying what was not looked at: a missing
   * signature may lie beyond them, and a denial says so.
   */
  referrersTruncated?: string[];
  collectedAt: string;
}

/** How verify/ reaches signature artifacts: pull/ passes an implementation bound to one upstream repository. */
export interface ArtifactSource {
  /** A manifest by tag or digest, or null when the upstream has none (404). */
  manifest(reference: string): Promise<{ bytes: Buffer; digest: Digest; mediaType: string } | null>;
  /** A blob's bytes, refused past maxBytes. Digest-checked by the source. */
  blob(digest: Digest, maxBytes: number): Promise<Buffer>;
  /**
   * One page of the referrers index JSON for a subject (the first, or the one `next` names), with the next
   * page's link when there is one; null when the upstream lacks the referrers API.
   */
  referrers(subject: Digest, next?: string): Promise<ReferrersPage | null>;
}

export interface ReferrersPage {
  bytes: Buffer;
  /** Opaque to verify/: handed back to `referrers` for the following page. */
  next?: string;
}

export interface SubjectManifest {
  digest: Digest;
  bytes: Buffer;
  parsed: ParsedManifest;
}

export interface EvidenceGatherer {
  gather(subject: SubjectManifest, source: ArtifactSource): Promise<Evidence>;
  /** Changes whenever the trust material changes; evidence cached under another fingerprint is stale. */
  readonly fingerprint: string;
}
