import type { CelInput } from '@bufbuild/cel';
import { isIndexMediaType } from '../oci/media-types.js';
import type { Evidence, VerifiedAttestation } from '../verify/types.js';
import { attestationBindings, ruleBindings, type ImageContext } from './cel-bindings.js';
import { clip, compileCondition, evaluateCondition } from './cel-program.js';
import { describeRequirement, describeSigner, satisfiesAny } from './signer-match.js';
import { walkCutShort } from './evidence-summary.js';
import type { AttestationRequirement, PolicyRule } from './types.js';

/**
 * The `attestations` entries and the `condition` of a rule, judged against evidence. Pure: reasons out,
 * nothing thrown. A condition that cannot be evaluated (a missing key, the cost limit, facts the evidence
 * lacks) fails like a false one, with its own reason.
 */
export interface ConditionOutcome {
  reasons: string[];
  /** The attestation that met each entry, for the audit log. */
  met: Array<{ name: string; attestation: VerifiedAttestation }>;
  /** Set when the rule's condition was not applied to this subject (an index), and why. */
  deferred?: string;
}

type Bindings = Record<string, CelInput>;

/**
 * Results per evidence object: the evidence cache (decide/evidence-cache.ts) keeps evidence in memory, and
 * the policy is judged on every request, so a condition that does not read `now` is evaluated once per
 * evidence, name and tag.
 */
const results = new WeakMap<Evidence, Map<string, string | undefined>>();
const MAX_RESULTS_PER_EVIDENCE = 256;

export function judgeConditions(rule: PolicyRule, evidence: Evidence, ctx: ImageContext, byParent: boolean): ConditionOutcome {
  const out: ConditionOutcome = { reasons: [], met: [] };
  if (!rule.attestations?.length && rule.condition === undefined) return out;
  const image = evidence.image;
  let bindings: Bindings | undefined;
  const base = (): Bindings | undefined => (bindings ??= image && ruleBindings(evidence, image, ctx));

  // A child of an allowed index has the index's attestations (cosign attests the index), as for provenance.
  if (!byParent) {
    for (const entry of rule.attestations ?? []) {
      const verdict = judgeEntry(entry, evidence, base, `${ctx.repository}\n${ctx.tag}`);
      if ('met' in verdict) out.met.push({ name: entry.name, attestation: verdict.met });
      else out.reasons.push(`attestation "${entry.name}": ${verdict.reason}`);
    }
  }

  if (rule.condition !== undefined) {
    const text = `condition "${clip(rule.condition, 120)}"`;
    if (image && isIndexMediaType(image.mediaType)) {
      out.deferred = 'an index has no image config: each platform manifest is judged when it is pulled';
    } else if (!image) {
      out.reasons.push(`${text} cannot be judged: the evidence for this image was gathered without image facts`);
    } else if (!image.config) {
      out.reasons.push(`${text} cannot be judged: the image config is unreadable${evidence.configError ? ` (${evidence.configError})` : ''}`);
    } else {
      const r = run(rule.condition, 'rule', base, evidence, `rule\n${ctx.repository}\n${ctx.tag}`);
      if (r) out.reasons.push(`${text} ${r}`);
    }
  }
  return out;
}

function judgeEntry(
  entry: AttestationRequirement,
  evidence: Evidence,
  base: () => Bindings | undefined,
  name: string,
): { met: VerifiedAttestation } | { reason: string } {
  const typed = evidence.attestations.filter((a) => a.predicateType === entry.predicateType);
  if (typed.length === 0) {
    const rejected = evidence.rejected.filter((r) => r.source !== 'sig-tag').map((r) => r.reason);
    const cut = walkCutShort(evidence);
    const none = `no verified ${entry.predicateType} attestation${cut ? ' among those looked at' : ''}`;
    return { reason: `${cut ? `${cut}; ` : ''}${none}${rejected.length ? ` (rejected: ${rejected.slice(0, 2).join(' | ')})` : ''}` };
  }
  const signed = typed.filter((a) => satisfiesAny(entry.signedBy.anyOf, a));
  if (signed.length === 0) {
    const by = [...new Set(typed.map((a) => describeSigner(a.signer)))].slice(0, 3).join(', ');
    return { reason: `${entry.predicateType} attestation is not signed by ${entry.signedBy.anyOf.map(describeRequirement).join(' or ')} (signed by ${by})` };
  }
  if (entry.condition === undefined) return { met: signed[0]! };
  let first: string | undefined;
  for (const a of signed) {
    const why = judgeAttestation(entry.condition, a, evidence, base, `attestation ${evidence.attestations.indexOf(a)}\n${name}`);
    if (!why) return { met: a };
    first ??= why;
  }
  return { reason: `condition "${clip(entry.condition, 120)}" ${first}${signed.length > 1 ? ` (none of ${signed.length} attestations passed; the first shown)` : ''}` };
}

function judgeAttestation(condition: string, a: VerifiedAttestation, evidence: Evidence, base: () => Bindings | undefined, key: string): string | undefined {
  if (a.predicateOmitted) return `cannot be judged: ${a.predicateOmitted}`;
  if (a.predicate === undefined) return 'cannot be judged: the evidence holds no predicate for this attestation';
  if (!evidence.image) return `cannot be judged: the evidence for ${evidence.subject} was gathered without image facts`;
  return run(condition, 'attestation', () => attestationBindings(base()!, a), evidence, key);
}

/** undefined when the condition holds; otherwise why not, worded to follow `condition "…"`. */
function run(source: string, kind: 'rule' | 'attestation', bindings: () => Bindings | undefined, evidence: Evidence, key: string): string | undefined {
  const compiled = compileCondition(source, kind);
  if (!compiled.condition) return `is invalid: ${compiled.error}`;
  const memoKey = `${key}\n${source}`;
  let memo = results.get(evidence);
  // Results that depend on the time, or on vulnerabilities (exceptions expire, the catalog changes), are not kept.
  const volatile = compiled.condition.usesNow || /\bvulnerabilities\b/.test(source);
  if (!volatile && memo?.has(memoKey)) return memo.get(memoKey);
  const r = evaluateCondition(compiled.condition, bindings()!);
  const why = 'error' in r ? `could not be evaluated: ${r.error}` : r.value ? undefined : `is false${r.detail}`;
  if (!volatile) {
    if (!memo) results.set(evidence, (memo = new Map()));
    if (memo.size >= MAX_RESULTS_PER_EVIDENCE) memo.clear();
    memo.set(memoKey, why);
  }
  return why;
}
