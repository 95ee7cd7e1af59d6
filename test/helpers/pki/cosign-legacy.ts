import { signEnvelope } from './dsse.js';
import { sha256Hex } from './keys.js';
import { artifact, cosignTag, describeBlob, MT, type OciArtifact } from './oci.js';
import { inTotoStatement, simpleSigningPayload, slsaProvenance, type ProvenanceOptions } from './payloads.js';
import { rekorBundleAnnotation, type TestRekor, type TlogEntry } from './rekor.js';
import { isKeyless, signingKey, verifierPem, type Signer } from './signer.js';
import type { TestKey } from './keys.js';

/** cosign's tag-based storage: `sha256-<hex>.sig` / `.att` manifests with one layer per signature. */

export const ANNOTATION = {
  signature: 'dev.cosignproject.cosign/signature',
  certificate: 'dev.sigstore.cosign/certificate',
  chain: 'dev.sigstore.cosign/chain',
  bundle: 'dev.sigstore.cosign/bundle',
  predicateType: 'predicateType',
} as const;

export interface CosignLayer {
  mediaType: string;
  blob: Buffer;
  annotations: Record<string, string>;
  /** The Rekor entry recorded for this layer, if any. */
  tlogEntry?: TlogEntry;
}

interface CommonOptions {
  /** Image manifest digest being signed, `sha256:<hex>`. */
  digest: string;
  signer: Signer;
  /** Log to record the signature in; omitted means no `bundle` annotation (key-only signing). */
  rekor?: TestRekor;
  /** Rekor integratedTime (default now); keep it inside the certificate's validity for keyless. */
  integratedTime?: Date;
  /** Whether to write the `chain` annotation for keyless signers (default true). */
  includeChain?: boolean;
}

export interface SignatureLayerOptions extends CommonOptions {
  /** `critical.identity.docker-reference`, e.g. `localhost:5000/team/app`. */
  repository: string;
  /** Payload `optional` annotations (`cosign sign -a k=v`). */
  optional?: Record<string, string>;
  /** Sign these bytes instead of the simple-signing payload built from digest/repository. */
  payload?: Buffer;
}

export interface AttestationLayerOptions extends CommonOptions {
  /** SLSA provenance fields; ignored when predicateType/predicate are given. */
  provenance?: ProvenanceOptions;
  predicateType?: string;
  predicate?: unknown;
  /** Statement subject digest (default: `digest`); set another to model provenance for a different image. */
  subjectDigest?: string;
  subjectName?: string;
  statementType?: 'https://in-toto.io/Statement/v0.1' | 'https://in-toto.io/Statement/v1';
  /** Keys that co-sign the envelope: their signatures follow the signer's (and are logged with it). */
  cosigners?: TestKey[];
  /** Put the co-signers' signatures before the signer's in the envelope (the log keeps the same order). */
  cosignersFirst?: boolean;
}

function identityAnnotations(signer: Signer, includeChain = true): Record<string, string> {
  if (!isKeyless(signer)) return {};
  return {
    [ANNOTATION.certificate]: signer.pem,
    ...(includeChain ? { [ANNOTATION.chain]: signer.chainPem } : {}),
  };
}

export function createSignatureLayer(opts: SignatureLayerOptions): CosignLayer {
  const payload = opts.payload ?? simpleSigningPayload(opts.repository, opts.digest, opts.optional);
  const signature = signingKey(opts.signer).sign(payload);
  const signing = signingKey(opts.signer);
  const tlogEntry = opts.rekor?.addHashedRekord({
    payload,
    signature,
    publicKeyPem: verifierPem(opts.signer),
    integratedTime: opts.integratedTime,
    hash: signing.algorithm === 'ed25519ph' ? 'sha512' : 'sha256',
  });
  return {
    mediaType: MT.simpleSigning,
    blob: payload,
    annotations: {
      [ANNOTATION.signature]: signature.toString('base64'),
      ...identityAnnotations(opts.signer, opts.includeChain),
      ...(tlogEntry ? { [ANNOTATION.bundle]: rekorBundleAnnotation(tlogEntry) } : {}),
    },
    ...(tlogEntry ? { tlogEntry } : {}),
  };
}

export function createAttestationLayer(opts: AttestationLayerOptions): CosignLayer {
  const { predicateType, predicate } =
    opts.predicateType !== undefined
      ? { predicateType: opts.predicateType, predicate: opts.predicate ?? {} }
      : slsaProvenance({ version: 'v0.2', ...opts.provenance });
  const statement = inTotoStatement({
    subjectDigest: opts.subjectDigest ?? opts.digest,
    subjectName: opts.subjectName,
    predicateType,
    predicate,
    statementType: opts.statementType ?? (predicateType.endsWith('/v0.2') ? 'https://in-toto.io/Statement/v0.1' : undefined),
  });
  const cosigners = opts.cosigners ?? [];
  let envelope = signEnvelope(signingKey(opts.signer), statement, undefined, cosigners);
  const logged = [
    { signature: envelope.signature, verifierPem: verifierPem(opts.signer) },
    ...envelope.cosignatures.map((signature, i) => ({ signature, verifierPem: cosigners[i]!.publicKeyPem })),
  ];
  if (opts.cosignersFirst) {
    logged.push(logged.shift()!);
    const doc = JSON.parse(envelope.json.toString()) as { signatures: unknown[] };
    doc.signatures.push(doc.signatures.shift());
    envelope = { ...envelope, json: Buffer.from(JSON.stringify(doc)) };
  }
  const tlogEntry = opts.rekor?.addDsse({
    envelopeJson: envelope.json,
    payload: statement,
    signature: logged[0]!.signature,
    verifierPem: logged[0]!.verifierPem,
    cosigners: logged.slice(1),
    integratedTime: opts.integratedTime,
  });
  return {
    mediaType: MT.dsseEnvelope,
    blob: envelope.json,
    annotations: {
      [ANNOTATION.signature]: '',
      ...identityAnnotations(opts.signer, opts.includeChain),
      ...(tlogEntry ? { [ANNOTATION.bundle]: rekorBundleAnnotation(tlogEntry) } : {}),
      [ANNOTATION.predicateType]: predicateType,
    },
    ...(tlogEntry ? { tlogEntry } : {}),
  };
}

/** The `.sig`/`.att` manifest holding the given layers, tagged for `digest`. */
export function cosignManifest(digest: string, layers: CosignLayer[], suffix: 'sig' | 'att'): OciArtifact {
  const history = layers.map(() => ({ created: '0001-01-01T00:00:00Z' }));
  const config = Buffer.from(
    JSON.stringify({
      architecture: '',
      created: '0001-01-01T00:00:00Z',
      history,
      os: '',
      rootfs: { type: 'layers', diff_ids: layers.map((l) => `sha256:${sha256Hex(l.blob)}`) },
      config: {},
    }),
  );
  const manifest = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: describeBlob(config, MT.ociConfig),
    layers: layers.map((l) => describeBlob(l.blob, l.mediaType, { annotations: l.annotations })),
  };
  const blobs = [config, ...layers.map((l) => l.blob)];
  return artifact(manifest, MT.ociManifest, dedupe(blobs), cosignTag(digest, suffix));
}

export function createSignatureArtifact(opts: SignatureLayerOptions): OciArtifact {
  return cosignManifest(opts.digest, [createSignatureLayer(opts)], 'sig');
}

export function createAttestationArtifact(opts: AttestationLayerOptions): OciArtifact {
  return cosignManifest(opts.digest, [createAttestationLayer(opts)], 'att');
}

function dedupe(blobs: Buffer[]): Buffer[] {
  const seen = new Set<string>();
  return blobs.filter((b) => {
    const d = sha256Hex(b);
    if (seen.has(d)) return false;
    seen.add(d);
    return true;
  });
}
