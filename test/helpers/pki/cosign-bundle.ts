import { signEnvelope } from './dsse.js';
import { keyId, type TestKey } from './keys.js';
import { artifact, cosignTag, describeBlob, MT, type Descriptor, type OciArtifact } from './oci.js';
import { COSIGN_SIGN_PREDICATE, inTotoStatement, slsaProvenance, type ProvenanceOptions } from './payloads.js';
import { bundleTlogEntry, type TestRekor, type TlogEntry } from './rekor.js';
import type { TestRekorV2 } from './rekor-v2.js';
import { isKeyless, signingKey, verifierPem, type Signer } from './signer.js';
import type { TestTsa } from './tsa.js';

/** cosign v3 (`--new-bundle-format`): Sigstore bundle v0.3 stored as an OCI 1.1 referrer of the image. */

export const EMPTY_CONFIG = Buffer.from('{}');

export interface BundleOptions {
  /** Descriptor of the signed image manifest (becomes the referrer `subject`). */
  subject: Descriptor;
  signer: Signer;
  /** Log to record in; omitted means a bundle without tlog entries (keyed, offline). */
  rekor?: TestRekor;
  integratedTime?: Date;
  /** Include the SET (default true; sigstore-js needs it to take integratedTime as a timestamp). */
  inclusionPromise?: boolean;
  /** Include inclusion proof + checkpoint (default true; required by bundle v0.2+ when a tlog entry exists). */
  inclusionProof?: boolean;
  /** `publicKey.hint` for keyed signers (default base64 sha256 of the DER SPKI). */
  keyHint?: string;
  /** `org.opencontainers.image.created` (default now). */
  created?: Date;
  /** Statement subject digest (default subject.digest). */
  subjectDigest?: string;
  /** An RFC 3161 timestamp over the signature from this authority (as GitHub's instance adds instead of a log entry). */
  tsa?: TestTsa;
  /** When the authority stamps it (default now). */
  tsaTime?: Date;
  /** Log in a Rekor v2 log instead (cosign v3 with a v0.2 signing config): a proof and checkpoint, no time. */
  rekorV2?: { log: TestRekorV2; kind?: 'hashedrekord' | 'dsse'; checkpointKey?: TestKey };
}

export interface AttestationBundleOptions extends BundleOptions {
  provenance?: ProvenanceOptions;
  predicateType?: string;
  predicate?: unknown;
  /** The `dev.sigstore.bundle.predicateType` annotation, when it should claim another type than the statement's. */
  annotatedPredicateType?: string;
}

export interface ReferrerArtifact extends OciArtifact {
  /** The bundle JSON object (also the single layer blob). */
  readonly bundle: Record<string, unknown>;
  readonly predicateType: string;
  readonly tlogEntry?: TlogEntry;
  /** Descriptor as a referrers listing / fallback index shows it. */
  readonly descriptor: Descriptor;
}

export function createSigstoreBundle(
  opts: BundleOptions,
  statement: Buffer,
): { bundle: Record<string, unknown>; tlogEntry?: TlogEntry } {
  const envelope = signEnvelope(signingKey(opts.signer), statement);
  const tlogEntry = opts.rekor?.addDsse({
    envelopeJson: envelope.json,
    payload: statement,
    signature: envelope.signature,
    verifierPem: verifierPem(opts.signer),
    integratedTime: opts.integratedTime,
  });
  const tlogEntries: Array<Record<string, unknown>> = [];
  if (tlogEntry && opts.rekor) {
    const entry = bundleTlogEntry(tlogEntry, opts.inclusionProof === false ? undefined : opts.rekor.inclusionProof(tlogEntry));
    if (opts.inclusionPromise === false) delete entry.inclusionPromise;
    tlogEntries.push(entry);
  }
  if (opts.rekorV2) {
    const { log, ...how } = opts.rekorV2;
    tlogEntries.push(log.entryFor({ payloadType: envelope.payloadType, payload: statement, signature: envelope.signature }, opts.signer, how));
  }
  const signer = opts.signer;
  const keyMaterial = isKeyless(signer)
    ? { certificate: { rawBytes: signer.der.toString('base64') } }
    : { publicKey: { hint: opts.keyHint ?? keyId(signer).toString('base64') } };
  const bundle = {
    mediaType: MT.bundleV03,
    verificationMaterial: {
      ...keyMaterial,
      tlogEntries,
      ...(opts.tsa && {
        timestampVerificationData: { rfc3161Timestamps: [{ signedTimestamp: opts.tsa.timestamp(envelope.signature, opts.tsaTime).toString('base64') }] },
      }),
    },
    dsseEnvelope: {
      payload: statement.toString('base64'),
      payloadType: envelope.payloadType,
      signatures: [{ sig: envelope.signature.toString('base64') }],
    },
  };
  return { bundle, ...(tlogEntry ? { tlogEntry } : {}) };
}

function referrer(opts: BundleOptions, predicateType: string, predicate: unknown, annotatedPredicateType = predicateType): ReferrerArtifact {
  const statement = inTotoStatement({
    subjectDigest: opts.subjectDigest ?? opts.subject.digest,
    predicateType,
    predicate,
  });
  const { bundle, tlogEntry } = createSigstoreBundle(opts, statement);
  const blob = Buffer.from(JSON.stringify(bundle));
  const annotations = {
    'dev.sigstore.bundle.content': 'dsse-envelope',
    'dev.sigstore.bundle.predicateType': annotatedPredicateType,
    'org.opencontainers.image.created': (opts.created ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
  const manifest = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: describeBlob(EMPTY_CONFIG, MT.ociEmpty, { artifactType: MT.bundleV03 }),
    layers: [describeBlob(blob, MT.bundleV03)],
    annotations,
    subject: { mediaType: opts.subject.mediaType, size: opts.subject.size, digest: opts.subject.digest },
    artifactType: MT.bundleV03,
  };
  const a = artifact(manifest, MT.ociManifest, [EMPTY_CONFIG, blob]);
  const descriptor = { ...describeBlob(a.manifest, a.mediaType), artifactType: MT.bundleV03, annotations };
  return { ...a, bundle, predicateType, descriptor, ...(tlogEntry ? { tlogEntry } : {}) };
}

/** `cosign sign` v3: in-toto v1 statement, predicateType https://sigstore.dev/cosign/sign/v1, empty predicate. */
export function createSignatureReferrer(opts: BundleOptions): ReferrerArtifact {
  return referrer(opts, COSIGN_SIGN_PREDICATE, {});
}

/** `cosign attest` v3: SLSA provenance (v1 by default) or any predicate. */
export function createAttestationReferrer(opts: AttestationBundleOptions): ReferrerArtifact {
  if (opts.predicateType !== undefined) return referrer(opts, opts.predicateType, opts.predicate ?? {}, opts.annotatedPredicateType);
  const { predicateType, predicate } = slsaProvenance(opts.provenance);
  return referrer(opts, predicateType, predicate);
}

/** Referrers tag-schema fallback: image index tagged `sha256-<hex>` listing the referrers. */
export function referrersTagIndex(subjectDigest: string, referrers: ReferrerArtifact[]): OciArtifact {
  const index = { schemaVersion: 2, mediaType: MT.ociIndex, manifests: referrers.map((r) => r.descriptor) };
  return artifact(index, MT.ociIndex, [], cosignTag(subjectDigest));
}
