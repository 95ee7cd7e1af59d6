import type { Logger } from '../logger.js';
import { splitImage } from '../oci/reference.js';
import { isDigest } from '../oci/digest.js';
import type { Descriptor } from '../oci/manifest.js';
import { BASE_DIGEST_ANNOTATION, BASE_NAME_ANNOTATION } from '../policy/base-image.js';
import type { BaseImageFact } from '../policy/types.js';
import type { UpstreamClient } from '../upstream/upstream-client.js';
import { readImageFacts } from '../verify/config-created.js';
import type { Evidence } from '../verify/types.js';
import { resolveTarget } from '../upstream/target.js';
import type { ArtifactSources, ManifestSource } from './types.js';

type Platform = { os: string; architecture: string; variant?: string };
/** What the base tag resolves to now, for one platform; cached per base reference for the upstream's tagTtl. */
type Current = Pick<BaseImageFact, 'currentDigest' | 'currentCreated' | 'error'>;

/** A failed resolution is retried after this long (or the tagTtl, if shorter). */
const RETRY_FAILED_MS = 5_000;
const CACHE_LIMIT = 2000;
/** Registry names that mean Docker Hub. */
const DOCKER_HUB = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/**
 * Resolves an image's base (`org.opencontainers.image.base.name`) to what its tag points at now, through
 * the same upstream clients and manifest cache as pulls. This is the proxy's own lookup: nothing is served
 * or audited, and the base's repository needs no policy rule. Never throws: a base that cannot be
 * resolved comes back with `error`, which the evaluator treats as a failed check.
 */
export class BaseImages {
  private readonly cache = new Map<string, { value: Current; expiresAt: number }>();
  private readonly inflight = new Map<string, Promise<Current>>();

  constructor(
    private readonly upstreams: ReadonlyMap<string, UpstreamClient>,
    private readonly manifests: ManifestSource,
    private readonly sources: ArtifactSources,
    private readonly log: Logger,
  ) {}

  /** The base facts for an image from its evidence, or undefined when it names no base. */
  async fact(evidence: Evidence): Promise<BaseImageFact | undefined> {
    const named = baseAnnotations(evidence);
    if (!named) return undefined;
    const fact: BaseImageFact = { name: named.name, ...(named.digest && { digest: named.digest }) };
    let parts: { path: string; tag?: string; digest?: string };
    try {
      parts = splitImage(named.name);
    } catch (err) {
      return { ...fact, error: `invalid base image name: ${(err as Error).message}` };
    }
    if (!fact.digest && parts.digest) fact.digest = parts.digest;
    const { registry, path } = splitRegistry(parts.path);
    const upstreamName = DOCKER_HUB.has(registry) ? [...DOCKER_HUB].find((n) => this.upstreams.has(n)) : this.upstreams.has(registry) ? registry : undefined;
    if (!upstreamName) return { ...fact, error: `registry "${registry}" is not a configured upstream` };
    const tag = parts.tag ?? 'latest';
    const platform = evidence.image?.platform;
    const want: Platform = platform?.os ? platform : { os: 'linux', architecture: 'amd64' };
    const key = `${upstreamName}/${path}:${tag}\0${want.os}/${want.architecture}/${want.variant ?? ''}`;
    const hit = this.cache.get(key);
    if (hit && hit.expiresAt > Date.now()) return { ...fact, ...hit.value };
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = this.current(upstreamName, path, tag, want, key).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    return { ...fact, ...(await pending) };
  }

  private async current(upstreamName: string, path: string, tag: string, want: Platform, key: string): Promise<Current> {
    const upstream = this.upstreams.get(upstreamName)!;
    let value: Current;
    try {
      const target = resolveTarget(`${upstreamName}/${path}`, undefined, this.upstreams, undefined);
      const top = await this.manifests.resolve(target, { kind: 'tag', tag });
      let image = top;
      if (top.parsed.isIndex) {
        const child = pickPlatform(top.parsed.manifests, want);
        if (!child) throw new Error(`index ${top.digest} lists no platform manifest`);
        image = await this.manifests.resolve(target, { kind: 'digest', digest: child.digest });
      }
      const source = this.sources(target);
      const read = await readImageFacts({ digest: image.digest, bytes: image.bytes, parsed: image.parsed }, source);
      value = { currentDigest: top.digest, ...(read.created && { currentCreated: read.created }) };
      if (!read.created && read.error) value.error = `the current base's config cannot be read: ${read.error}`;
    } catch (err) {
      const message = (err as Error).message ?? String(err);
      this.log.warn('base image could not be resolved', { base: `${upstreamName}/${path}:${tag}`, error: message });
      value = { error: `tag "${tag}" cannot be resolved in ${upstreamName}/${path}: ${message}` };
    }
    const ttl = value.error ? Math.min(RETRY_FAILED_MS, upstream.config.tagTtlMs) : upstream.config.tagTtlMs;
    if (this.cache.size >= CACHE_LIMIT) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, { value, expiresAt: Date.now() + ttl });
    return value;
  }
}

/** The base named by the manifest's annotations, else by the image config's labels. */
export function baseAnnotations(evidence: Evidence): { name: string; digest?: string } | undefined {
  for (const source of [evidence.image?.annotations, evidence.image?.config?.Labels]) {
    const name = source?.[BASE_NAME_ANNOTATION]?.trim();
    if (!name) continue;
    const digest = source?.[BASE_DIGEST_ANNOTATION]?.trim();
    return digest && isDigest(digest) ? { name, digest } : { name };
  }
  return undefined;
}

/** Docker's rule: the first path component is a registry when it has a `.` or `:` or is `localhost`. */
export function splitRegistry(path: string): { registry: string; path: string } {
  const slash = path.indexOf('/');
  const first = slash > 0 ? path.slice(0, slash) : '';
  if (first && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    return { registry: first.toLowerCase(), path: path.slice(slash + 1) };
  }
  return { registry: 'docker.io', path };
}

/** The platform manifest matching the image's platform, else the first linux/amd64, else none. */
export function pickPlatform(children: readonly Descriptor[], want: Platform): Descriptor | undefined {
  const is = (d: Descriptor, p: Platform, variant: boolean) =>
    d.platform?.os === p.os && d.platform?.architecture === p.architecture && (!variant || !p.variant || !d.platform?.variant || d.platform.variant === p.variant);
  return children.find((d) => is(d, want, true)) ?? children.find((d) => is(d, { os: 'linux', architecture: 'amd64' }, false));
}
