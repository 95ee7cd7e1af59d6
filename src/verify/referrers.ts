import { digestTag, type Digest } from '../oci/digest.js';
import { parseManifest, type Descriptor, type ParsedManifest } from '../oci/manifest.js';
import type { SubjectManifest } from './types.js';
import type { GuardedSource } from './guarded-source.js';
import type { VerifyContext } from './legacy-annotations.js';
import type { TagEvidence } from './legacy-tags.js';
import { verifyReferrerBundle } from './referrer-bundle.js';
import { ReferrerBudget, REFERRER_LIMIT_DEFAULTS, type ReferrerLimits } from './referrer-limits.js';
import { NOTATION_ARTIFACT_TYPE } from './notation/headers.js';
import { gatherNotationReferrer, isNotationSignature } from './notation/referrer.js';

const BUNDLE_TYPE_PREFIX = 'application/vnd.dev.sigstore.bundle';
/** Referrers fetched at once: a long list is walked in parallel, not one round trip after another. */
const PARALLEL = 8;

export interface ReferrerEvidence extends TagEvidence {
  /** The bounds the walk hit: referrers that were not looked at. Empty when every referrer was. */
  truncated: string[];
}

/**
 * Sigstore bundles attached as OCI 1.1 referrers: the referrers API (following its pages), or the
 * `sha256-<hex>` tag-schema index when the upstream lacks it. Only manifests whose single layer is a bundle
 * are considered (as cosign does); a referrer that is an index is walked into within `maxDepth`.
 */
export async function gatherReferrers(
  subject: SubjectManifest,
  source: GuardedSource,
  ctx: VerifyContext,
  limits: ReferrerLimits = REFERRER_LIMIT_DEFAULTS,
): Promise<ReferrerEvidence> {
  const budget = new ReferrerBudget(limits);
  const out: ReferrerEvidence = { signatures: [], attestations: [], rejected: [], truncated: budget.notes };
  const listed = await listReferrers(subject.digest, source, budget, out);
  if (!listed) return out;
  const candidates = listed.filter((d) => isCandidate(d, ctx));
  const found: TagEvidence[] = candidates.map(() => ({ signatures: [], attestations: [], rejected: [] }));
  let next = 0;
  const worker = async () => {
    while (next < candidates.length && !budget.spent) {
      const at = next++;
      if (!budget.takeReferrer(candidates.length)) return;
      await verifyReferrer(candidates[at]!.digest, 1, subject, source, ctx, budget, found[at]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, candidates.length) }, worker));
  // In list order, whatever order the fetches finished in.
  for (const part of found) {
    out.signatures.push(...part.signatures);
    out.attestations.push(...part.attestations);
    out.rejected.push(...part.rejected);
  }
  return out;
}

/** Every descriptor of the subject's referrers list, within the page and byte bounds; undefined when unreadable. */
async function listReferrers(subject: Digest, source: GuardedSource, budget: ReferrerBudget, out: ReferrerEvidence): Promise<Descriptor[] | undefined> {
  let page = await source.referrers(subject);
  if (page === undefined) return undefined;
  if (page === null) {
    const tagged = await source.manifest(digestTag(subject));
    if (!tagged) return undefined;
    page = { bytes: tagged.bytes };
  }
  const listed: Descriptor[] = [];
  for (let pages = 1; ; pages++) {
    if (!budget.spend(page.bytes.length, `referrers list page ${pages}`)) break;
    try {
      const index = parseManifest(page.bytes);
      if (!index.isIndex) throw new Error('referrers list is not an image index');
      listed.push(...index.manifests);
    } catch (err) {
      out.rejected.push({ source: 'referrer', reason: `MALFORMED: ${(err as Error).message}` });
      return listed.length > 0 ? listed : undefined;
    }
    if (!page.next) break;
    if (pages >= budget.limits.maxPages) {
      budget.note('maxPages', `the referrers list has more than ${pages} pages; only ${pages} read (trust.referrers.maxPages)`);
      break;
    }
    const following = await source.referrers(subject, page.next);
    if (!following) break;
    page = following;
  }
  return listed;
}

/** Notation signatures are looked at only when Notation trust stores are configured. */
function isCandidate(d: Descriptor, ctx: VerifyContext): boolean {
  if (d.artifactType === NOTATION_ARTIFACT_TYPE) return ctx.notation !== undefined;
  return d.artifactType === undefined || d.artifactType.startsWith(BUNDLE_TYPE_PREFIX);
}

async function verifyReferrer(
  digest: Digest,
  depth: number,
  subject: SubjectManifest,
  source: GuardedSource,
  ctx: VerifyContext,
  budget: ReferrerBudget,
  out: TagEvidence,
): Promise<void> {
  const reject = (reason: string) => out.rejected.push({ source: 'referrer', artifactDigest: digest, reason });
  const m = await source.manifest(digest);
  if (m === undefined) return;
  if (m === null) return void reject('MALFORMED: listed referrer manifest does not exist');
  if (!budget.spend(m.bytes.length, `referrer ${digest}`)) return;
  let layer: Descriptor;
  let annotations: Record<string, string> | undefined;
  let notation: ParsedManifest | undefined;
  try {
    const parsed = parseManifest(m.bytes, m.mediaType);
    if (parsed.isIndex) {
      const children = parsed.manifests.filter((d) => isCandidate(d, ctx));
      if (children.length === 0) return;
      if (depth >= budget.limits.maxDepth) {
        budget.note('maxDepth', `referrer ${digest} is an index whose ${children.length} manifests were not looked at (trust.referrers.maxDepth ${budget.limits.maxDepth})`);
        return;
      }
      for (const child of children) {
        if (budget.spent || !budget.takeReferrer()) return;
        await verifyReferrer(child.digest, depth + 1, subject, source, ctx, budget, out);
      }
      return;
    }
    if (isNotationSignature(parsed)) notation = parsed;
    const only = parsed.layers.length === 1 ? parsed.layers[0] : undefined;
    // Not a Sigstore bundle (an SBOM; a Notation signature without Notation trust stores): not evidence either way.
    if (notation ? !ctx.notation : !only || !only.mediaType.startsWith(BUNDLE_TYPE_PREFIX)) return;
    if (parsed.subject && parsed.subject.digest !== subject.digest) {
      return void reject(`DIGEST_MISMATCH: referrer names subject ${parsed.subject.digest} not ${subject.digest}`);
    }
    layer = only!;
    annotations = parsed.annotations;
  } catch (err) {
    return void reject(`MALFORMED: ${(err as Error).message}`);
  }
  if (notation) return gatherNotationReferrer(notation, m.digest, subject, source, ctx.notation!, ctx.now, budget, out);
  return verifyReferrerBundle(layer, annotations, m.digest, subject, source, ctx, budget, out);
}
