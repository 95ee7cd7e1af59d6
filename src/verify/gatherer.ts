import type { TrustConfig } from '../config/types.js';
import type { Evidence, EvidenceGatherer, SubjectManifest, ArtifactSource } from './types.js';
import { GuardedSource } from './guarded-source.js';
import type { VerifyContext } from './legacy-annotations.js';
import { gatherLegacyTag } from './legacy-tags.js';
import { gatherReferrers } from './referrers.js';
import { REFERRER_LIMIT_DEFAULTS, type ReferrerLimits } from './referrer-limits.js';
import { loadTrust, type LoadedTrust } from './trust-material.js';
import { readImageFacts } from './config-created.js';
import { toReason } from './verify-error.js';

/**
 * Marks what evidence records beyond the trust material: evidence cached before image facts, predicates,
 * the roots a certificate chained to and its extensions were kept would leave conditions and keyless
 * entries without their inputs, so it is gathered again rather than reused.
 */
export const EVIDENCE_FORMAT = '+facts+roots';

/**
 * Builds the gatherer from trust configuration. Loading happens here, so bad trust material fails at start.
 * gather() never throws: bad artifacts are `rejected`, unreachable ones set `gatherError` (fail closed).
 */
export function createEvidenceGatherer(
  trust: TrustConfig | LoadedTrust | TrustSource,
  clock: () => Date = () => new Date(),
  limits: ReferrerLimits = REFERRER_LIMIT_DEFAULTS,
): EvidenceGatherer {
  const source: TrustSource = 'current' in trust ? trust : constantTrust('fingerprint' in trust ? trust : loadTrust(trust));
  // Evidence gathered under other referrer bounds may have looked at more or fewer referrers: gather again.
  const bounds = `+refs:${limits.maxCount},${limits.maxBytes},${limits.maxPages},${limits.maxDepth},${limits.maxReportBytes}`;
  return {
    get fingerprint() {
      return `${source.current().fingerprint}${EVIDENCE_FORMAT}${bounds}`;
    },
    gather: (subject, artifacts) => gatherEvidence(subject, artifacts, source.current(), clock(), limits),
  };
}

/** Trust material that may be replaced while running (a refreshed public-good root). */
export interface TrustSource {
  current(): LoadedTrust;
}

function constantTrust(loaded: LoadedTrust): TrustSource {
  return { current: () => loaded };
}

export async function gatherEvidence(
  subject: SubjectManifest,
  source: ArtifactSource,
  trust: LoadedTrust,
  now: Date,
  limits: ReferrerLimits = REFERRER_LIMIT_DEFAULTS,
): Promise<Evidence> {
  const evidence: Evidence = { subject: subject.digest, signatures: [], attestations: [], rejected: [], collectedAt: now.toISOString() };
  const guarded = new GuardedSource(source);
  const ctx: VerifyContext = { roots: trust.roots, keys: trust.keys, now, ...(trust.notation ? { notation: trust.notation } : {}) };
  try {
    const [sig, att, refs, config] = await Promise.all([
      gatherLegacyTag('sig', subject.digest, guarded, ctx),
      gatherLegacyTag('att', subject.digest, guarded, ctx),
      gatherReferrers(subject, guarded, ctx, limits),
      readImageFacts(subject, source),
    ]);
    for (const part of [sig, att, refs]) {
      evidence.signatures.push(...part.signatures);
      evidence.attestations.push(...part.attestations);
      evidence.rejected.push(...part.rejected);
    }
    if (refs.truncated.length) evidence.referrersTruncated = refs.truncated;
    evidence.image = config.facts;
    if (config.created) evidence.configCreated = config.created;
    if (config.error) evidence.configError = config.error;
  } catch (err) {
    // Defensive: the stages catch their own failures, so this is a bug; still never throw, and fail closed.
    evidence.gatherError = `internal error while gathering evidence: ${toReason(err)}`;
  }
  if (guarded.errors.length) evidence.gatherError = [evidence.gatherError, ...guarded.errors].filter(Boolean).join('; ');
  return evidence;
}
