import { createHash } from 'node:crypto';
import type { Bundle } from '@sigstore/bundle';
import type { ArtifactSourceKind, Signer, TlogEvidence, VerifiedAttestation, VerifiedSignature } from './types.js';
import { certIdentity } from './certificate-identity.js';
import type { VerifyContext } from './legacy-annotations.js';
import { tsaTime } from './legacy-annotations.js';
import { checkBundleStructure } from './bundle-structure.js';
import { joinBundle, type OffThreadBundle } from './bundle-payload.js';
import { chainedRoots, underSomeRoot } from './root-attempts.js';
import { parseBundle, runSigstore } from './sigstore-run.js';
import { parseStatement, provenanceFacts, reportFacts, statementFacts, type ExpectedSubject } from './statement.js';
import { VerifyFailure, toReason } from './verify-error.js';

export const BUNDLE_MEDIA_TYPES: readonly string[] = [
  'application/vnd.dev.sigstore.bundle.v0.3+json',
  'application/vnd.dev.sigstore.bundle+json;version=0.1',
  'application/vnd.dev.sigstore.bundle+json;version=0.2',
  'application/vnd.dev.sigstore.bundle+json;version=0.3',
];
/** cosign v3 `sign` writes its signature as a DSSE statement with this predicate. */
export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';

export interface BundleTarget {
  /** Digests the signed statement or message must cover. */
  subject: ExpectedSubject;
  /** The signed bytes, for message-signature bundles (for an image: its manifest bytes). */
  artifact?: Buffer;
  source: ArtifactSourceKind;
  artifactDigest: string;
}

export interface BundleEvidence {
  signatures: VerifiedSignature[];
  attestations: VerifiedAttestation[];
}

const CLOCK_SKEW_MS = 5 * 60_000;
const HASHES: Record<string, string> = { SHA2_256: 'sha256', SHA2_384: 'sha384', SHA2_512: 'sha512' };

/**
 * Verifies one Sigstore bundle about a subject. Keyless bundles are checked under every trusted root (the
 * signer records those it chained to); key bundles against every configured key (one result per key that
 * verifies). Throws VerifyFailure.
 */
export function verifyBundleBytes(
  bytes: Buffer,
  target: BundleTarget,
  ctx: VerifyContext,
  /** A large scan or VEX bundle already read (its report reduced) off the event loop; `bytes` are then not read. */
  read?: OffThreadBundle,
): BundleEvidence {
  let json: any = read?.json;
  if (!read) {
    try {
      json = JSON.parse(bytes.toString('utf8'));
    } catch {
      throw new VerifyFailure('MALFORMED', 'bundle is not JSON');
    }
  }
  if (!BUNDLE_MEDIA_TYPES.includes(json?.mediaType)) {
    throw new VerifyFailure('UNSUPPORTED', `bundle media type ${JSON.stringify(json?.mediaType)}`);
  }
  const bundle = read ? joinBundle(json, read.payload) : parseBundle(json);
  checkBundleStructure(bundle);
  const content = read ? readContent(bundle, read) : checkContent(bundle, target);
  const signedDigest = content.kind === 'message' ? content.signedDigest : undefined;
  const hashed = read && { payloadSha256: Buffer.from(read.payloadHex, 'hex'), paeSha256: Buffer.from(read.paeHex, 'hex') };
  const tlogCount = bundle.verificationMaterial.tlogEntries.length;
  for (const e of bundle.verificationMaterial.tlogEntries) {
    if (Number(e.integratedTime) * 1000 > ctx.now.getTime() + CLOCK_SKEW_MS) {
      throw new VerifyFailure('UNTRUSTED_TLOG', `integratedTime ${e.integratedTime} is in the future`);
    }
  }
  const signers: Signer[] = [];
  let tlogVerified = tlogCount > 0;
  const vm = bundle.verificationMaterial.content;
  if (vm.$case === 'publicKey') {
    const failures: string[] = [];
    for (const [name, key] of ctx.keys) {
      try {
        underSomeRoot(ctx.roots, tlogCount > 0, (root) =>
          runSigstore(root, { bundle: json, parsed: bundle, hashed, artifact: target.artifact, signedDigest, key, tlogThreshold: Math.min(1, tlogCount), timestampThreshold: 0 }),
        );
        signers.push({ type: 'key', key: name });
      } catch (err) {
        failures.push(toReason(err));
      }
    }
    if (signers.length === 0) {
      if (ctx.keys.size === 0) throw new VerifyFailure('UNTRUSTED_KEY', 'key-signed bundle, but no keys are configured');
      const distinct = [...new Set(failures)];
      throw new VerifyFailure('SIGNATURE_INVALID', `no configured key verifies the bundle (${distinct.slice(0, 3).join('; ')})`);
    }
  } else {
    const der = vm.$case === 'certificate' ? vm.certificate.rawBytes : vm.x509CertificateChain.certificates[0]?.rawBytes;
    if (!der) throw new VerifyFailure('MALFORMED', 'bundle has an empty certificate chain');
    const id = certIdentity(Buffer.from(der));
    const chained = chainedRoots(ctx.roots, (root) =>
      runSigstore(root, { bundle: json, parsed: bundle, hashed, artifact: target.artifact, signedDigest, tlogThreshold: Math.min(1, tlogCount), timestampThreshold: 1 }),
    );
    tlogVerified &&= chained.tlogVerified;
    const { issuer, subject, extensions } = id;
    signers.push({ type: 'keyless', ...(issuer !== undefined && { issuer }), subject, roots: chained.roots, extensions });
  }

  // A log entry only a root without logs accepted (by ignoring it) is no evidence of logging.
  const tlog = tlogVerified ? tlogOf(bundle) : undefined;
  const tsa = bundle.verificationMaterial.timestampVerificationData?.rfc3161Timestamps[0];
  const timestamp = tsa ? tsaTime(Buffer.from(tsa.signedTimestamp).toString('base64')) : undefined;
  const out: BundleEvidence = { signatures: [], attestations: [] };
  for (const signer of signers) {
    const base = { source: target.source, artifactDigest: target.artifactDigest, signer, ...(tlog && { tlog }), ...(timestamp && { timestamp }) };
    if (content.kind === 'message' || content.statement.predicateType === COSIGN_SIGN_PREDICATE) {
      out.signatures.push(base);
    } else {
      const att: VerifiedAttestation = { ...base, predicateType: content.statement.predicateType, statementDigest: content.statementDigest };
      const facts = provenanceFacts(content.statement);
      if (facts) att.provenance = facts;
      out.attestations.push({ ...att, ...statementFacts(content.statement, content.statementBytes), ...reportFacts(content.statement) });
    }
  }
  return out;
}

type Content =
  | { kind: 'message'; signedDigest?: { digest: Buffer; hash: string } }
  | { kind: 'dsse'; statement: ReturnType<typeof parseStatement>; statementDigest: string; statementBytes: number };

/** The statement a worker read (and checked against the subject) out of the bundle's envelope. */
function readContent(bundle: Bundle, read: OffThreadBundle): Content {
  const signatures = bundle.content.$case === 'dsseEnvelope' ? bundle.content.dsseEnvelope.signatures.length : 0;
  if (signatures !== 1) throw new VerifyFailure('MALFORMED', `DSSE envelope has ${signatures} signatures; bundles allow one`);
  return { kind: 'dsse', statement: read.statement, statementDigest: `sha256:${read.payloadHex}`, statementBytes: read.payload.length };
}

function checkContent(bundle: Bundle, target: BundleTarget): Content {
  if (bundle.content.$case === 'dsseEnvelope') {
    const env = bundle.content.dsseEnvelope;
    if (env.signatures.length !== 1) throw new VerifyFailure('MALFORMED', `DSSE envelope has ${env.signatures.length} signatures; bundles allow one`);
    const statement = parseStatement(env.payloadType, env.payload, target.subject);
    return { kind: 'dsse', statement, statementDigest: `sha256:${createHash('sha256').update(env.payload).digest('hex')}`, statementBytes: env.payload.length };
  }
  const ms = bundle.content.messageSignature;
  const alg = HASHES[String(ms.messageDigest?.algorithm)] ?? HASHES[algName(ms.messageDigest?.algorithm)];
  if (!alg || !ms.messageDigest) throw new VerifyFailure('UNSUPPORTED', 'message digest algorithm');
  const signed = Buffer.from(ms.messageDigest.digest);
  if (!target.artifact) {
    // Known only by digest (`verify-bundle sha256:<hex>`): the signature is checked over that digest.
    const given = target.subject === 'unchecked' ? undefined : target.subject.digests[alg];
    if (!given) throw new VerifyFailure('UNSUPPORTED', `the bundle signs a ${alg} digest; give the artifact itself`);
    if (!signed.equals(Buffer.from(given, 'hex'))) {
      throw new VerifyFailure('DIGEST_MISMATCH', `bundle signs ${alg}:${signed.toString('hex')} not ${alg}:${given}`);
    }
    return { kind: 'message', signedDigest: { digest: signed, hash: alg } };
  }
  const actual = createHash(alg).update(target.artifact).digest();
  if (!actual.equals(signed)) {
    throw new VerifyFailure('DIGEST_MISMATCH', `bundle signs ${alg}:${signed.toString('hex')} not ${alg}:${actual.toString('hex')}`);
  }
  return { kind: 'message' };
}

/** protobuf enums arrive as numbers: 1 = SHA2_256, 2 = SHA2_384, 3 = SHA2_512. */
function algName(v: unknown): string {
  return ({ 1: 'SHA2_256', 2: 'SHA2_384', 3: 'SHA2_512' } as Record<string, string>)[String(v)] ?? '';
}

/** Log time is only trusted from a SET (inclusionPromise); proof-only (Rekor v2) entries give no time. */
function tlogOf(bundle: Bundle): TlogEvidence | undefined {
  const e = bundle.verificationMaterial.tlogEntries[0];
  if (!e) return undefined;
  const hasSetTime = e.inclusionPromise && e.integratedTime && e.integratedTime !== '0';
  const tsa = bundle.verificationMaterial.timestampVerificationData?.rfc3161Timestamps[0];
  const when = hasSetTime
    ? new Date(Number(e.integratedTime) * 1000).toISOString()
    : tsa
      ? tsaTime(Buffer.from(tsa.signedTimestamp).toString('base64'))
      : undefined;
  if (!when) return undefined;
  return { logIndex: Number(e.logIndex), integratedTime: when, logId: Buffer.from(e.logId?.keyId ?? []).toString('hex') };
}
