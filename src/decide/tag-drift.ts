import type { TagStore } from '../db/types.js';
import type { Digest } from '../oci/digest.js';
import type { Target } from '../upstream/target.js';
import type { DecisionResult, DriftEvent, ManifestLike } from './types.js';

export interface TagDriftDeps<M extends ManifestLike> {
  tags: TagStore;
  /** The manifest of a digest in the target's repository (the last verified one). */
  resolve(target: Target, digest: Digest): Promise<M>;
  /** The decision a pull of that digest would get. */
  decideDigest(target: Target, m: M, now: Date): Promise<DecisionResult>;
  deny(target: Target, reason: string): DecisionResult;
}

/**
 * A tag that moved upstream since it last passed (`upstreams[].tagDrift`). The move is recorded once as
 * `tag.drift` in every mode. `follow` judges the new digest; `keep-verified` serves the last digest that
 * passed when the new one fails (judged again now); `deny` refuses until an admin accepts the new digest.
 * Returns the manifest to serve and its decision.
 */
export async function judgeTagDrift<M extends ManifestLike>(
  deps: TagDriftDeps<M>,
  input: { target: Target; tag: string; manifest: M; decision: DecisionResult; now: Date; record: (event: DriftEvent) => Promise<void> },
): Promise<{ manifest: M; decision: DecisionResult }> {
  const { target, tag, manifest: m, decision, now, record } = input;
  const tags = deps.tags;
  const up = target.upstream.name;
  const mode = target.upstream.config.tagDrift ?? 'follow';
  const passes = decision.outcome !== 'deny';
  const verified = await tags.verified(up, target.repository, tag);
  if (!verified || verified.digest === m.digest) {
    if (passes && (!verified || verified.seenDigest !== null)) await tags.markVerified(up, target.repository, tag, m.digest, now.toISOString());
    return { manifest: m, decision };
  }
  const moved = `tag "${tag}" moved upstream from ${verified.digest} (verified ${verified.verifiedAt}${verified.acceptedBy ? `, accepted by ${verified.acceptedBy}` : ''}) to ${m.digest}`;
  const outcome = passes ? `which passes policy "${decision.rule ?? '(none)'}"` : `which fails: ${decision.reasons.join('; ') || 'denied'}`;
  const drift = async (served: string | null, action: string, result: 'allow' | 'deny' | 'warn') => {
    if (!(await tags.noteMoved(up, target.repository, tag, m.digest))) return;
    await record({
      kind: 'tag.drift', digest: m.digest, decision: result, policy: decision.rule, policyVersion: decision.policyVersion, mode,
      reasons: [`${moved}, ${outcome}; ${action}`],
      evidence: { tag, verifiedDigest: verified.digest, newDigest: m.digest, servedDigest: served, tagDrift: mode, newDecision: decision.outcome, newReasons: decision.reasons },
    });
  };
  if (mode === 'deny') {
    const reason = `${moved} after it was verified; refused until an admin accepts ${m.digest} (POST /api/v1/tags/accept)`;
    await drift(null, 'refused until an admin accepts it', 'deny');
    return { manifest: m, decision: { ...deps.deny(target, reason), evidence: { tagDrift: { verifiedDigest: verified.digest, newDigest: m.digest } } } };
  }
  if (mode === 'follow' || passes) {
    await drift(m.digest, 'serving the new digest', decision.outcome);
    if (passes) await tags.markVerified(up, target.repository, tag, m.digest, now.toISOString());
    return { manifest: m, decision };
  }
  // keep-verified, and the new digest fails: the last verified digest, judged again as a pull of it would be.
  let kept: M;
  try {
    kept = await deps.resolve(target, verified.digest as Digest);
  } catch (err) {
    await drift(null, 'the verified digest cannot be fetched', 'deny');
    return { manifest: m, decision: deps.deny(target, `${moved}, ${outcome}; the verified digest cannot be fetched: ${(err as Error).message}`) };
  }
  const keptDecision = await deps.decideDigest(target, kept, now);
  await drift(kept.digest, `serving the verified digest ${kept.digest}`, keptDecision.outcome === 'deny' ? 'deny' : 'warn');
  return {
    manifest: kept,
    decision: { ...keptDecision, reasons: [...keptDecision.reasons, `${moved}, ${outcome}; serving the verified digest`], evidence: { ...(keptDecision.evidence ?? {}), tagDrift: { verifiedDigest: verified.digest, newDigest: m.digest } } },
  };
}
