import { parseManifest, referencedBlobs, type ParsedManifest } from '../oci/manifest.js';
import { digestHex, digestTag, type Digest } from '../oci/digest.js';
import { OciError } from '../oci/errors.js';
import type { RequestInfo } from '../pull/pull-service.js';
import type { TransferServices } from '../app.js';
import type { Target } from '../upstream/target.js';
import type { LayoutWriter } from './layout-writer.js';
import { REF_NAME, REPOSITORY_ANNOTATION, type LayoutDescriptor, type SummaryImage } from './layout.js';
import type { NamedImage } from './image-names.js';

/** Artifact blobs (signature layers, bundles, attestations) larger than this are refused. */
const MAX_ARTIFACT_BLOB_BYTES = 64 * 1024 * 1024;
const WRITE_FAILURES = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EROFS', 'EFBIG']);

export type ExportOutcome =
  | { ok: true; image: SummaryImage; entries: LayoutDescriptor[]; signers: unknown }
  | { ok: false; name: string; origin: string; denied: boolean; reasons: string[] };

/**
 * Carries one image into the archive as a pull would get it: every manifest is judged and audited through
 * the pull path (a refusal stops here), then every platform's config and layers and the image's signature
 * and attestation artifacts (`.sig`/`.att` tags, referrers) are written.
 */
export async function exportImage(t: TransferServices, writer: LayoutWriter, req: RequestInfo, image: NamedImage): Promise<ExportOutcome> {
  const { target } = image;
  try {
    const top = await t.pull.manifest(req, target, image.ref, undefined);
    const { decision } = await t.pull.evaluate(target, { kind: 'digest', digest: top.digest });
    const contents: string[] = [];
    const subjects: Digest[] = [top.digest];
    await writer.addBytes(top.digest, top.bytes);
    await writeContents(t, writer, req, target, parseManifest(top.bytes, top.mediaType), contents, subjects, 0);
    const entries: LayoutDescriptor[] = [{ mediaType: top.mediaType, digest: top.digest, size: top.bytes.length, annotations: { [REF_NAME]: image.name } }];
    const artifacts: string[] = [];
    for (const subject of subjects) await writeArtifacts(t.artifacts(target), writer, target, subject, entries, artifacts);
    return {
      ok: true,
      entries,
      signers: decision.evidence,
      image: {
        name: image.name,
        digest: top.digest,
        mediaType: top.mediaType,
        exporterDecision: { outcome: decision.outcome, rule: decision.rule, reasons: decision.reasons },
        contents,
        artifacts,
      },
    };
  } catch (err) {
    // The archive failing (a full disk) is not this image's fault: the whole export stops.
    if (writer.broken || WRITE_FAILURES.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
    const denied = err instanceof OciError && err.code === 'DENIED';
    const detail = denied ? ((err as OciError).detail as { reasons?: string[] } | undefined) : undefined;
    const reasons = detail?.reasons?.length ? detail.reasons : [(err as Error).message];
    return { ok: false, name: image.name, origin: image.origin, denied, reasons };
  }
}

/** An index's platforms (each judged as its own pull) and an image's config and layers. */
async function writeContents(
  t: TransferServices, writer: LayoutWriter, req: RequestInfo, target: Target, parsed: ParsedManifest,
  contents: string[], subjects: Digest[], depth: number,
): Promise<void> {
  if (parsed.isIndex) {
    if (depth > 1) throw new OciError('MANIFEST_INVALID', 'indexes nested more than two deep are not exported');
    for (const child of parsed.manifests) {
      const m = await t.pull.manifest(req, target, { kind: 'digest', digest: child.digest as Digest }, undefined);
      await writer.addBytes(m.digest, m.bytes);
      contents.push(m.digest);
      subjects.push(m.digest);
      await writeContents(t, writer, req, target, parseManifest(m.bytes, m.mediaType), contents, subjects, depth + 1);
    }
    return;
  }
  for (const blob of referencedBlobs(parsed)) {
    const digest = blob.digest as Digest;
    contents.push(digest);
    if (writer.has(digest)) continue;
    const res = await t.pull.blob({ ...req, noHandoff: true }, target, digest, false, undefined);
    if (!res.body) throw new Error(`blob ${digest} came without a body`);
    await writer.addStream(digest, res.size, res.body);
  }
}

/** cosign's `.sig`/`.att` tags and the subject's referrers (or their tag-schema index), each with its blobs. */
async function writeArtifacts(
  source: ReturnType<TransferServices['artifacts']>, writer: LayoutWriter, target: Target, subject: Digest,
  entries: LayoutDescriptor[], artifacts: string[],
): Promise<void> {
  const add = async (m: { bytes: Buffer; digest: Digest; mediaType: string }, annotations: Record<string, string>): Promise<void> => {
    const parsed = parseManifest(m.bytes, m.mediaType);
    await writer.addBytes(m.digest, m.bytes);
    artifacts.push(m.digest);
    entries.push({ mediaType: m.mediaType, digest: m.digest, size: m.bytes.length, ...(parsed.artifactType && { artifactType: parsed.artifactType }), annotations });
    for (const blob of parsed.isIndex ? [] : referencedBlobs(parsed)) {
      const digest = blob.digest as Digest;
      artifacts.push(digest);
      if (!writer.has(digest)) await writer.addBytes(digest, await source.blob(digest, MAX_ARTIFACT_BLOB_BYTES));
    }
  };
  for (const kind of ['sig', 'att'] as const) {
    const m = await source.manifest(digestTag(subject, kind));
    if (m) await add(m, { [REF_NAME]: `${target.canonical}:${digestTag(subject, kind)}` });
  }
  let listing = (await source.referrers(subject))?.bytes;
  if (!listing) {
    const tagged = await source.manifest(digestTag(subject));
    if (tagged) await add(tagged, { [REF_NAME]: `${target.canonical}:sha256-${digestHex(subject)}` });
    listing = tagged?.bytes;
  }
  if (!listing) return;
  const list = parseManifest(listing);
  for (const referrer of list.isIndex ? list.manifests : []) {
    if (writer.has(referrer.digest)) continue;
    const m = await source.manifest(referrer.digest);
    if (m) await add(m, { [REPOSITORY_ANNOTATION]: target.canonical });
  }
}
