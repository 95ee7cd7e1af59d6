import { OciError } from '../oci/errors.js';
import { splitImage, type Reference } from '../oci/reference.js';
import type { PullService } from '../pull/pull-service.js';
import { resolveTarget } from '../upstream/target.js';
import type { UpstreamClient } from '../upstream/upstream-client.js';
import type { Outcome, PolicyMode } from '../policy/types.js';

export interface Evaluation {
  image: string;
  upstream: string;
  repository: string;
  reference: string;
  digest: string;
  mediaType: string;
  decision: Outcome;
  rule: string | null;
  mode: PolicyMode | null;
  reasons: string[];
  evidence: Record<string, unknown> | null;
  policyVersion: number;
}

export type ImageEvaluator = (image: string) => Promise<Evaluation>;

/**
 * `docker.io/acme/app:1.2` (or `…@sha256:…`, or a name under the default upstream) → the decision the proxy
 * would make for it now, through the same fetch and decide path as a pull, but serving nothing.
 */
export function createImageEvaluator(
  pull: PullService,
  upstreams: ReadonlyMap<string, UpstreamClient>,
  defaultUpstream: string | undefined,
): ImageEvaluator {
  return async (image) => {
    if (typeof image !== 'string' || image.length === 0 || image.length > 1024) {
      throw new OciError('NAME_INVALID', 'image must be a string such as "docker.io/acme/app:1.2"');
    }
    const parts = splitImage(image);
    refuseUnknownRegistry(parts.path, upstreams, defaultUpstream);
    const target = resolveTarget(parts.path, undefined, upstreams, defaultUpstream);
    const ref: Reference = parts.digest ? { kind: 'digest', digest: parts.digest } : { kind: 'tag', tag: parts.tag ?? 'latest' };
    const { manifest, decision } = await pull.evaluate(target, ref);
    return {
      image,
      upstream: target.upstream.name,
      repository: target.canonical,
      reference: ref.kind === 'tag' ? ref.tag : ref.digest,
      digest: manifest.digest,
      mediaType: manifest.mediaType,
      decision: decision.outcome,
      rule: decision.rule,
      mode: decision.mode,
      reasons: decision.reasons,
      evidence: decision.evidence ?? null,
      policyVersion: decision.policyVersion,
    };
  };
}

/**
 * A name that starts with a registry host (a first part with a dot or a port, or `localhost`, as Docker
 * reads names) which is not a configured upstream. A pull of it through the default upstream looks up the
 * whole name there as a repository, which is never what `evaluate quay.io/x/y` means, so evaluation says
 * so instead of answering for `<default>/quay.io/x/y`.
 */
export function refuseUnknownRegistry(path: string, upstreams: ReadonlyMap<string, UpstreamClient>, defaultUpstream: string | undefined): void {
  const slash = path.indexOf('/');
  const first = slash > 0 ? path.slice(0, slash) : undefined;
  if (!first || upstreams.has(first) || !(first.includes('.') || first.includes(':') || first === 'localhost')) return;
  const configured = [...upstreams.keys()].join(', ');
  const pulled = defaultUpstream
    ? `; a pull of this name goes to the default upstream ${defaultUpstream} as its repository "${path}" (evaluate "${defaultUpstream}/${path}" to judge that)`
    : '';
  throw new OciError('NAME_UNKNOWN', `"${first}" is not a configured upstream (upstreams: ${configured})${pulled}`);
}
