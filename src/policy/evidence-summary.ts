import type { Evidence, NotationSigner, Signer, VerifiedAttestation, VerifiedSignature } from '../verify/types.js';
import type { BuildTime } from './build-time.js';

const MAX_LISTED = 5;
/** Distinct signers named in full; an image has a handful, and the referrers walk is bounded anyway. */
const MAX_SIGNERS = 32;

/** A compact, JSON-safe account of what decided, for the audit log. */
export function summarise(input: {
  evidence: Evidence;
  accepted: readonly VerifiedSignature[];
  provenance: readonly VerifiedAttestation[];
  built?: BuildTime;
  byParent: boolean;
  /** Attestation entries and the attestation that met each. */
  met?: ReadonlyArray<{ name: string; attestation: VerifiedAttestation }>;
  /** Why the rule's condition was not applied to this subject. */
  deferred?: string;
}): Record<string, unknown> {
  const { evidence, accepted, provenance, built, byParent, met, deferred } = input;
  const out: Record<string, unknown> = {
    signatures: evidence.signatures.length,
    attestations: evidence.attestations.length,
  };
  Object.assign(out, everySigner(evidence));
  if (accepted.length) out.matchedSigners = accepted.slice(0, MAX_LISTED).map(signerEntry);
  const atts = provenance.length ? provenance : evidence.attestations;
  if (atts.length) {
    out.attestationTypes = atts.slice(0, MAX_LISTED).map((a) => ({
      predicateType: a.predicateType,
      statementDigest: a.statementDigest,
      signer: signerEntry(a).signer,
      ...(a.provenance?.builderId && { builderId: a.provenance.builderId }),
      ...(a.provenance?.sourceRepository && { sourceRepository: a.provenance.sourceRepository }),
    }));
  }
  if (met?.length) {
    out.attestationsMet = met.slice(0, MAX_LISTED).map(({ name, attestation: a }) => ({
      name,
      predicateType: a.predicateType,
      statementDigest: a.statementDigest,
      signer: signerEntry(a).signer,
    }));
  }
  if (deferred) out.conditionDeferred = deferred;
  if (built) out.buildTime = { time: built.time.toISOString(), source: built.source };
  if (evidence.configCreated) out.configCreated = evidence.configCreated;
  if (evidence.rejected.length) {
    out.rejected = evidence.rejected.slice(0, MAX_LISTED).map((r) => r.reason);
    out.rejectedCount = evidence.rejected.length;
  }
  if (evidence.gatherError) out.gatherError = evidence.gatherError;
  if (evidence.referrersTruncated?.length) out.referrersTruncated = evidence.referrersTruncated;
  if (byParent) out.satisfiedByParent = true;
  return out;
}

/** Why the referrers walk stopped before the end (the `trust.referrers` bounds it hit), if it did. */
export function walkCutShort(evidence: Evidence): string | undefined {
  const notes = evidence.referrersTruncated;
  return notes?.length ? `referrers not all looked at: ${notes.join('; ')}` : undefined;
}

/**
 * Every signer whose signature or attestation verified, and every transparency-log entry among them, once each,
 * compactly: what the audit log's signer filter and the revocation impact report find an event by, however many
 * attestations the lists above leave out.
 */
function everySigner(evidence: Evidence): { signers?: Record<string, unknown>[]; signersOmitted?: number; logEntries?: Array<{ logIndex: number }>; logEntriesOmitted?: number } {
  const verified = [...evidence.signatures, ...evidence.attestations];
  if (verified.length === 0) return {};
  const signers = unique(verified.map((v) => signerIdentity(v.signer)));
  // The log entries too, so a revocation of one entry (by its index) finds every event that relied on it.
  const logged = unique(verified.flatMap((v) => (v.tlog ? [{ logIndex: v.tlog.logIndex }] : [])));
  return {
    signers: signers.slice(0, MAX_SIGNERS),
    ...(signers.length > MAX_SIGNERS && { signersOmitted: signers.length - MAX_SIGNERS }),
    ...(logged.length > 0 && { logEntries: logged.slice(0, MAX_SIGNERS) }),
    ...(logged.length > MAX_SIGNERS && { logEntriesOmitted: logged.length - MAX_SIGNERS }),
  };
}

/** Each value once (by its JSON), in first-seen order. */
function unique<T>(values: readonly T[]): T[] {
  return [...new Map(values.map((v) => [JSON.stringify(v), v])).values()];
}

/** Who signed, and nothing more: the fields a signer is searched by. */
function signerIdentity(s: Signer): Record<string, unknown> {
  if (s.type === 'key') return { key: s.key };
  if (s.type === 'notation') return { notation: { subject: s.subject, fingerprint: s.fingerprint } };
  return { issuer: s.issuer ?? null, subject: s.subject };
}

function signerEntry(s: VerifiedSignature | VerifiedAttestation): Record<string, unknown> {
  const signer =
    s.signer.type === 'notation'
      ? notationEntry(s.signer)
      : s.signer.type === 'key'
        ? signerIdentity(s.signer)
        : { ...signerIdentity(s.signer), roots: s.signer.roots };
  const e: Record<string, unknown> = { signer, source: s.source, artifact: s.artifactDigest };
  if (s.tlog) e.tlog = { logIndex: s.tlog.logIndex, integratedTime: s.tlog.integratedTime };
  if (s.timestamp) e.timestamp = s.timestamp;
  return e;
}

function notationEntry(s: NotationSigner): Record<string, unknown> {
  return {
    notation: { subject: s.subject, fingerprint: s.fingerprint, trustStores: s.trustStores, signingScheme: s.signingScheme, envelope: s.envelope, signingTime: s.signingTime },
    ...(s.timestampStores && { timestampStores: s.timestampStores }),
  };
}
