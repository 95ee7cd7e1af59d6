import type { Evidence, VerifiedAttestation, VerifiedSignature } from '../verify/types.js';
import type { BaseImageFact, Decision, PolicyRule, ProvenanceRequirement, VulnerabilityView } from './types.js';
import { buildTime, type BuildTime } from './build-time.js';
import { matchesField } from './identity-match.js';
import { describeRequirement, describeSigner, satisfiesAny } from './signer-match.js';
import { summarise, walkCutShort } from './evidence-summary.js';
import { judgeConditions } from './conditions.js';
import { leadWithRevocations, withoutRevoked, type RevocationSet } from './revocation.js';
import { baseImageReason } from './base-image.js';
import { isIndexMediaType } from '../oci/media-types.js';

export const SLSA_PREDICATES: readonly string[] = ['https://slsa.dev/provenance/v0.2', 'https://slsa.dev/provenance/v1'];
const DAY_MS = 86_400_000;

export interface EvaluateContext {
  now: Date;
  /**
   * 'allow' when the subject is a child manifest listed by an index that this rule allowed: cosign signs
   * and attests the index, so the child's signature and provenance requirements are met by the parent.
   * Freshness is still checked when the child has its own build time.
   */
  parentVerdict?: 'allow';
  /** `<upstream>/<repository>` and the tag asked for ('' by digest): the `repository` and `tag` of conditions. */
  repository?: string;
  tag?: string;
  /** Signers and log entries that no longer count, whatever the evidence says. */
  revocations?: RevocationSet;
  /** The subject's base image as gathered for `baseImage` (absent when the image names none). */
  baseImage?: BaseImageFact;
  /** The rule's judged vulnerabilities, the `vulnerabilities` of its conditions. */
  vulnerabilities?: VulnerabilityView;
}

/**
 * Applies one rule to the evidence for one digest. Pure: same inputs, same decision. enforce denies on
 * any unmet requirement; warn serves but records the same reasons; allow and deny ignore evidence.
 */
export function evaluateRule(rule: PolicyRule, gathered: Evidence | undefined, ctx: EvaluateContext): Decision {
  const evidence = gathered && ctx.revocations ? withoutRevoked(gathered, ctx.revocations) : gathered;
  const base = { rule: rule.name, mode: rule.mode };
  if (rule.mode === 'allow') return { ...base, outcome: 'allow', reasons: [] };
  if (rule.mode === 'deny') return { ...base, outcome: 'deny', reasons: ['denied by policy'] };

  const reasons: string[] = [];
  if (!evidence) {
    reasons.push('no verification evidence was gathered');
    return finish(rule, reasons, { evidence: 'none' });
  }
  const byParent = ctx.parentVerdict === 'allow';
  if (evidence.gatherError && !byParent) reasons.push(`signature artifacts could not be read: ${evidence.gatherError}`);

  let accepted: VerifiedSignature[] = [];
  if (rule.signatures) {
    accepted = evidence.signatures.filter((s) => satisfiesAny(rule.signatures!.anyOf, s));
    if (!byParent && accepted.length === 0) reasons.push(signatureReason(rule, evidence));
  }

  let provenance: VerifiedAttestation[] = [];
  if (rule.provenance) {
    provenance = evidence.attestations.filter((a) => provenanceMatches(rule.provenance!, a));
    if (!byParent && provenance.length === 0) reasons.push(provenanceReason(rule.provenance, evidence));
  } else if (rule.signatures) {
    // Only provenance signed by an identity the rule trusts may vouch for build time.
    provenance = evidence.attestations.filter((a) => SLSA_PREDICATES.includes(a.predicateType) && satisfiesAny(rule.signatures!.anyOf, a));
  }

  const judged = judgeConditions(rule, evidence, { repository: ctx.repository ?? '', tag: ctx.tag ?? '', now: ctx.now, vulnerabilities: ctx.vulnerabilities }, byParent);
  reasons.push(...judged.reasons);

  let built: BuildTime | undefined;
  if (rule.maxAgeDays !== undefined) {
    built = buildTime(evidence, provenance, accepted);
    if (!built) {
      if (!byParent) reasons.push(evidence.configError ? `build time unknown (image config unreadable: ${evidence.configError})` : 'build time unknown');
    } else if (ctx.now.getTime() - built.time.getTime() > rule.maxAgeDays * DAY_MS) {
      reasons.push(`image is stale: built ${built.time.toISOString().slice(0, 10)}, older than ${rule.maxAgeDays} days`);
    }
  }
  // An index has no config and no base of its own: each platform manifest is judged when it is pulled.
  const baseApplies = rule.baseImage !== undefined && !(evidence.image && isIndexMediaType(evidence.image.mediaType));
  if (baseApplies) {
    const why = baseImageReason(rule.baseImage!, ctx.baseImage, ctx.now);
    if (why) reasons.push(why);
  }
  const summary = summarise({ evidence, accepted, provenance, built, byParent, met: judged.met, deferred: judged.deferred });
  if (baseApplies && ctx.baseImage) summary.baseImage = { ...ctx.baseImage };
  return finish(rule, leadWithRevocations(reasons, gathered, ctx.revocations), summary);
}

function finish(rule: PolicyRule, reasons: string[], evidence: Record<string, unknown>): Decision {
  const outcome = reasons.length === 0 ? 'allow' : rule.mode === 'warn' ? 'warn' : 'deny';
  return { outcome, rule: rule.name, mode: rule.mode, reasons, evidence };
}

export function provenanceMatches(req: ProvenanceRequirement, a: VerifiedAttestation): boolean {
  if (!SLSA_PREDICATES.includes(a.predicateType) || !a.provenance) return false;
  if (!satisfiesAny(req.signedBy.anyOf, a)) return false;
  const p = a.provenance;
  return (
    matchesField(p.builderId, req.builderId, req.builderIdRegExp) &&
    matchesField(p.sourceRepository, req.sourceRepository, req.sourceRepositoryRegExp) &&
    matchesField(p.sourceBranch, req.sourceBranch, req.sourceBranchRegExp)
  );
}

function signatureReason(rule: PolicyRule, evidence: Evidence): string {
  const wanted = rule.signatures!.anyOf.map(describeRequirement).join(' or ');
  const found = [...new Set(evidence.signatures.map((s) => describeSigner(s.signer) + (s.tlog ? '' : ' (no tlog entry)')))];
  // A signature may lie among the referrers the walk did not reach: say so first, not just "no signature".
  const cut = walkCutShort(evidence);
  let text = cut ? `${cut}; no signature by ${wanted} among those looked at` : `no signature by ${wanted}`;
  text += found.length ? `; verified signers: ${found.slice(0, 5).join(', ')}` : '; no verified signatures';
  if (evidence.rejected.length) text += `; rejected: ${evidence.rejected.slice(0, 3).map((r) => r.reason).join(' | ')}`;
  return text;
}

function provenanceReason(req: ProvenanceRequirement, evidence: Evidence): string {
  const slsa = evidence.attestations.filter((a) => SLSA_PREDICATES.includes(a.predicateType) && a.provenance);
  if (slsa.length === 0) {
    const cut = walkCutShort(evidence);
    return cut ? `${cut}; no verified SLSA provenance among those looked at` : 'no verified SLSA provenance';
  }
  const signed = slsa.filter((a) => satisfiesAny(req.signedBy.anyOf, a));
  if (signed.length === 0) {
    const by = [...new Set(slsa.map((a) => describeSigner(a.signer)))].slice(0, 3).join(', ');
    return `SLSA provenance is not signed by ${req.signedBy.anyOf.map(describeRequirement).join(' or ')} (signed by ${by})`;
  }
  const p = signed[0]!.provenance!;
  const diffs: string[] = [];
  if (!matchesField(p.builderId, req.builderId, req.builderIdRegExp)) diffs.push(`builder ${p.builderId ?? '(none)'} is not ${req.builderId ?? `/${req.builderIdRegExp}/`}`);
  if (!matchesField(p.sourceRepository, req.sourceRepository, req.sourceRepositoryRegExp)) {
    diffs.push(`source ${p.sourceRepository ?? '(none)'} is not ${req.sourceRepository ?? `/${req.sourceRepositoryRegExp}/`}`);
  }
  if (!matchesField(p.sourceBranch, req.sourceBranch, req.sourceBranchRegExp)) diffs.push(`branch ${p.sourceBranch ?? '(none)'} is not ${req.sourceBranch ?? `/${req.sourceBranchRegExp}/`}`);
  return `provenance does not match: ${diffs.join(', ')}`;
}
