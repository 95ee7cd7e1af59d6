import { OciError } from '../oci/errors.js';
import { assertRepositoryName } from '../oci/reference.js';
import type { UpstreamClient } from './upstream-client.js';

/** Which upstream and repository a request names; `canonical` is what policies match and audit records. */
export interface Target {
  upstream: UpstreamClient;
  repository: string;
  canonical: string;
}

/**
 * Resolves the name from a /v2 path. Three ways in: containerd's `?ns=<upstream>`, a path prefix naming an
 * upstream (`ghcr.io/org/app`), or neither (Docker's registry-mirrors), which means the default upstream.
 * Docker Hub's single-name images get `library/`.
 */
export function resolveTarget(
  name: string,
  ns: string | undefined,
  upstreams: ReadonlyMap<string, UpstreamClient>,
  defaultUpstream: string | undefined,
): Target {
  let upstream: UpstreamClient | undefined;
  let repository = name;
  if (ns !== undefined && ns !== '') {
    upstream = upstreams.get(ns.toLowerCase());
    if (!upstream) throw new OciError('NAME_UNKNOWN', `no upstream named "${clip(ns)}" is configured`);
  } else {
    const slash = name.indexOf('/');
    const first = slash > 0 ? name.slice(0, slash) : undefined;
    if (first && upstreams.has(first)) {
      upstream = upstreams.get(first);
      repository = name.slice(slash + 1);
    } else if (defaultUpstream) {
      upstream = upstreams.get(defaultUpstream);
    }
    if (!upstream) {
      throw new OciError('NAME_UNKNOWN', `"${clip(name)}" names no configured upstream and there is no defaultUpstream`);
    }
  }
  assertRepositoryName(repository);
  if (upstream.name === 'docker.io' && !repository.includes('/')) repository = `library/${repository}`;
  return { upstream, repository, canonical: `${upstream.name}/${repository}` };
}

function clip(value: string): string {
  return value.length > 80 ? `${value.slice(0, 80)}…` : value;
}
