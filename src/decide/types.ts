import type { AuditEventInput } from '../audit/types.js';
import type { Digest } from '../oci/digest.js';
import type { ParsedManifest } from '../oci/manifest.js';
import type { Reference } from '../oci/reference.js';
import type { BaseImageFact, Decision } from '../policy/types.js';
import type { ExceptionSet } from '../policy/exception.js';
import type { RevocationSet } from '../policy/revocation.js';
import type { Target } from '../upstream/target.js';
import type { ArtifactSource, Evidence } from '../verify/types.js';

export interface DecisionResult extends Decision {
  policyVersion: number;
}

/** What the decision room reads of a manifest; the pull's fetched manifests carry more, and are handed back as they are. */
export interface ManifestLike {
  digest: Digest;
  bytes: Buffer;
  mediaType: string;
  parsed: ParsedManifest;
}

/** The manifests of a repository, through the same cache as pulls: subjects, parents, kept digests, bases. */
export interface ManifestSource<M extends ManifestLike = ManifestLike> {
  resolve(target: Target, ref: Reference): Promise<M>;
  /** A manifest already in the local cache, or undefined (never asks the upstream). */
  cached(target: Target, digest: Digest): Promise<M | undefined>;
}

/** How verification reaches signature artifacts in one repository. */
export type ArtifactSources = (target: Target) => ArtifactSource;

/** Trust that changed after evidence was gathered: revoked signers, time-boxed exceptions (held in memory). */
export interface TrustSource {
  revocations(): RevocationSet;
  exceptions(): ExceptionSet;
}

/** Resolves an image's base for `baseImage` rules (decide/base-images.ts); undefined when it names none. */
export interface BaseImageSource {
  fact(evidence: Evidence): Promise<BaseImageFact | undefined>;
}

/** A tag's move, recorded once as a `tag.drift` audit event (`mode` is the upstream's tagDrift mode). */
export type DriftEvent = Required<Pick<AuditEventInput, 'kind' | 'digest' | 'decision' | 'policy' | 'policyVersion' | 'mode' | 'reasons' | 'evidence'>>;
