import { isDigest, type Digest } from '../oci/digest.js';
import { disproveConfig, disproveLayer } from '../oci/artifact-content.js';
import { isNonRunnableArtifact, type Descriptor, type ParsedManifest } from '../oci/manifest.js';
import type { ArtifactSource } from '../verify/types.js';
import type { Target } from '../upstream/target.js';
import type { ManifestLike, ManifestSource } from './types.js';

/** `pull.maxArtifactSize` by default (all blobs of one artifact): room for a large SBOM; signatures and bundles are a few KiB. */
export const DEFAULT_ARTIFACT_BLOB_BYTES = 16 * 1024 * 1024;
/** More layers than any signature, attestation or SBOM artifact has (cosign appends one per signature). */
export const MAX_ARTIFACT_LAYERS = 64;
/** An artifact index (the referrers tag schema) lists at most this many artifacts. */
export const MAX_INDEX_ARTIFACTS = 64;
const REMEMBERED = 5000;

/**
 * What a manifest is for the gate. `artifact`: proven a signature, attestation or SBOM of `subject`, so it and
 * its blobs take the subject's decision. `image`: judged on its own digest (`disguise` says why a manifest that
 * looked like an artifact is not one). `unproven`: its blobs could not be read to prove it; fail closed.
 */
export type ArtifactVerdict =
  | { kind: 'artifact'; subject: string }
  | { kind: 'image'; disguise?: string }
  | { kind: 'unproven'; subject: string; reason: string };

/**
 * Proves an artifact by its content before it may borrow its subject's decision. Media types are chosen by
 * whoever pushed: a layer typed as simple signing may be an unsigned image's tar.gz, an image manifest or an
 * image config. So before the manifest is decided, every blob it lists is fetched (bounded by
 * `pull.maxArtifactSize`) and parsed as its declared type, and the config must be an artifact's config. Blobs
 * are linked to the subject only after this proof (the pull links what the decision names), so no blob is served under a borrowed
 * decision that the proxy has not read and parsed: there is no window between serving a manifest and proving
 * its blobs. Artifacts are small, so proving at manifest time costs little; the verdict depends only on
 * content fixed by the digest and is remembered.
 */
export class ArtifactProver {
  private readonly proven = new Map<string, string | undefined>();
  private readonly inflight = new Map<string, Promise<string | undefined>>();

  constructor(
    private readonly manifests: ManifestSource,
    private readonly maxBlobBytes: number,
  ) {}

  async judge(target: Target, m: ManifestLike, tag: string | undefined, source: ArtifactSource): Promise<ArtifactVerdict> {
    const subject = m.parsed.subject?.digest ?? (tag ? subjectOfArtifactTag(tag) : undefined);
    if (!subject || subject === m.digest || !isNonRunnableArtifact(m.parsed)) return { kind: 'image' };
    let disguise: string | undefined;
    try {
      disguise = await this.disprove(target, m.digest, m.parsed, source);
    } catch (err) {
      return { kind: 'unproven', subject, reason: `artifact ${m.digest} of ${subject} cannot be proven: ${(err as Error).message ?? String(err)}` };
    }
    if (disguise === undefined) return { kind: 'artifact', subject };
    return { kind: 'image', disguise: `not taken as an artifact of ${subject}: ${disguise}` };
  }

  /** Why the manifest is not an artifact; undefined when proven. Throws when a blob cannot be read. */
  private async disprove(target: Target, digest: string, parsed: ParsedManifest, source: ArtifactSource): Promise<string | undefined> {
    if (this.proven.has(digest)) return this.proven.get(digest);
    let pending = this.inflight.get(digest);
    if (!pending) {
      pending = (parsed.isIndex ? this.disproveIndex(target, parsed, source) : this.disproveContent(parsed, source)).then((verdict) => {
        if (this.proven.size >= REMEMBERED) this.proven.delete(this.proven.keys().next().value!);
        this.proven.set(digest, verdict);
        return verdict;
      }).finally(() => this.inflight.delete(digest));
      this.inflight.set(digest, pending);
    }
    return pending;
  }

  /** An index borrows only when every manifest it lists is itself a proven artifact (no nested indexes). */
  private async disproveIndex(target: Target, index: ParsedManifest, source: ArtifactSource): Promise<string | undefined> {
    if (index.manifests.length > MAX_INDEX_ARTIFACTS) return `index lists ${index.manifests.length} manifests; an artifact index lists at most ${MAX_INDEX_ARTIFACTS}`;
    for (const [i, d] of index.manifests.entries()) {
      const child = await this.manifests.resolve(target, { kind: 'digest', digest: d.digest });
      if (child.parsed.isIndex) return `manifests[${i}] is an index`;
      if (!isNonRunnableArtifact(child.parsed)) return `manifests[${i}] is not an artifact`;
      const why = await this.disprove(target, child.digest, child.parsed, source);
      if (why !== undefined) return `manifests[${i}]: ${why}`;
    }
    return undefined;
  }

  private async disproveContent(m: ParsedManifest, source: ArtifactSource): Promise<string | undefined> {
    if (m.layers.length > MAX_ARTIFACT_LAYERS) return `${m.layers.length} layers; an artifact has at most ${MAX_ARTIFACT_LAYERS}`;
    // Checked before anything is read: the blobs of one artifact together are held and parsed within the bound.
    const total = [...m.layers, ...(m.config ? [m.config] : [])].reduce((n, d) => n + d.size, 0);
    if (total > this.maxBlobBytes) return `its blobs are ${total} bytes; an artifact is proven and served up to ${this.maxBlobBytes} bytes (pull.maxArtifactSize)`;
    for (const [i, layer] of m.layers.entries()) {
      const bytes = await this.read(layer, source);
      if (typeof bytes === 'string') return `layer ${i} ${bytes}`;
      const why = disproveLayer(layer.mediaType, bytes);
      if (why !== undefined) return `layer ${i} (${layer.mediaType.slice(0, 80)}) is ${why}`;
    }
    if (!m.config) return 'no config';
    const config = await this.read(m.config, source);
    if (typeof config === 'string') return `config ${config}`;
    return disproveConfig(m.config, config, m.layers);
  }

  /** The blob's bytes (no more than its descriptor declares), or why they are not what the descriptor says. */
  private async read(d: Descriptor, source: ArtifactSource): Promise<Buffer | string> {
    const bytes = await source.blob(d.digest as Digest, d.size);
    if (bytes.length !== d.size) return `is ${bytes.length} bytes, not the ${d.size} its descriptor says`;
    return bytes;
  }
}

/** The subject of a cosign tag (`sha256-<hex>.sig|.att|.sbom` or the bare referrers tag). */
export function subjectOfArtifactTag(tag: string): string | undefined {
  const m = /^sha256-([a-f0-9]{64})(?:\.(?:sig|att|sbom))?$/.exec(tag);
  const digest = m ? `sha256:${m[1]}` : undefined;
  return digest && isDigest(digest) ? digest : undefined;
}
