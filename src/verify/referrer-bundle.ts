import { digestHex, type Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/manifest.js';
import { isReportPredicate } from '../vuln/report/reduce.js';
import type { SubjectManifest } from './types.js';
import { verifyBundleBytes } from './bundle-artifact.js';
import type { GuardedSource } from './guarded-source.js';
import type { VerifyContext } from './legacy-annotations.js';
import { MAX_LAYER_BYTES, MAX_REPORT_LAYER_BYTES, type TagEvidence } from './legacy-tags.js';
import type { ReferrerBudget } from './referrer-limits.js';
import { INLINE_ENVELOPE_BYTES, readBundleOffThread } from './report-off-thread.js';
import { toReason } from './verify-error.js';

/** cosign (`attest --new-bundle-format`) names the statement's predicate type on the referrer manifest. */
export const BUNDLE_PREDICATE_ANNOTATION = 'dev.sigstore.bundle.predicateType';

/**
 * Fetches and verifies the bundle (the one layer) of a referrer. A referrer whose annotation names a scan or
 * VEX predicate may carry up to a 32 MiB statement, as a `.att` layer may; beyond 2 MiB it is charged to
 * `trust.referrers.maxReportBytes` rather than `maxBytes`, read in a worker, and refused after all when the
 * statement it signs is no such report: the annotation buys the read, not the acceptance.
 */
export async function verifyReferrerBundle(
  layer: Descriptor,
  annotations: Record<string, string> | undefined,
  referrer: Digest,
  subject: SubjectManifest,
  source: GuardedSource,
  ctx: VerifyContext,
  budget: ReferrerBudget,
  out: TagEvidence,
): Promise<void> {
  const reject = (reason: string) => out.rejected.push({ source: 'referrer', artifactDigest: referrer, reason });
  const report = isReportPredicate(annotations?.[BUNDLE_PREDICATE_ANNOTATION]);
  const limit = report ? MAX_REPORT_LAYER_BYTES : MAX_LAYER_BYTES;
  if (layer.size > limit) return void reject(`TOO_LARGE: bundle is ${layer.size} bytes; the limit is ${limit}`);
  const what = `the bundle of referrer ${referrer}`;
  if (!(layer.size > MAX_LAYER_BYTES ? budget.spendReport(layer.size, what) : budget.spend(layer.size, what))) return;
  // No more than the descriptor declared and the budget was charged for.
  const blob = await source.blob(layer.digest, Math.max(0, layer.size));
  if (!blob) return;
  try {
    const hex = digestHex(subject.digest);
    const read = report && blob.length > INLINE_ENVELOPE_BYTES ? await readBundleOffThread(blob, hex) : undefined;
    if (read && read.bundleBytes > MAX_LAYER_BYTES && !isReportPredicate(read.statement.predicateType)) {
      return void reject(
        `TOO_LARGE: bundle is ${read.bundleBytes} bytes, over ${MAX_LAYER_BYTES}, but its statement is ${read.statement.predicateType}; only scan and VEX reports may be larger`,
      );
    }
    const found = verifyBundleBytes(
      blob,
      { subject: { digests: { sha256: hex } }, artifact: subject.bytes, source: 'referrer', artifactDigest: referrer },
      ctx,
      read,
    );
    out.signatures.push(...found.signatures);
    out.attestations.push(...found.attestations);
  } catch (err) {
    reject(toReason(err));
  }
}
