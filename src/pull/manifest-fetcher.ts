import type { CacheIndex } from '../db/cache-index.js';
import type { BlobStore } from '../store/blob-store.js';
import type { Logger } from '../logger.js';
import { OciError } from '../oci/errors.js';
import { digestAlgorithm, digestOf, isDigest, type Digest } from '../oci/digest.js';
import { MAX_MANIFEST_BYTES, parseManifest, type ParsedManifest } from '../oci/manifest.js';
import { UPSTREAM_ACCEPT } from '../oci/media-types.js';
import type { Reference } from '../oci/reference.js';
import { header, readLimitedBuffer } from '../upstream/upstream-client.js';
import { UpstreamError } from '../upstream/errors.js';
import { SingleFlight } from './single-flight.js';
import { isFallbackWorthy, toClientError } from './upstream-errors.js';
import type { Target } from '../upstream/target.js';

export interface FetchedManifest {
  digest: Digest;
  bytes: Buffer;
  mediaType: string;
  parsed: ParsedManifest;
  /** Served from the local store without a GET upstream. */
  cacheHit: boolean;
  /** Served from cache because the upstream failed. */
  stale: boolean;
}

/**
 * Manifests: digests local-first, tags remote-first after their TTL with HEAD, falling back to the cached
 * digest when the upstream fails. Bytes are buffered, bounded and digest-checked before anything is stored.
 */
const MEMORY_BUDGET_BYTES = 32 * 1024 * 1024;
/** `pull.maxLayers` by default: well above real images (tens to a few hundred layers). */
export const DEFAULT_MAX_LAYERS = 1000;

export class ManifestFetcher {
  private readonly flights = new SingleFlight<FetchedManifest>();
  /** Verified manifests kept in memory (insertion-ordered map used as an LRU), so hot digests skip the disk. */
  private readonly memory = new Map<string, { bytes: Buffer; mediaType: string; parsed: ParsedManifest }>();
  private memoryBytes = 0;

  constructor(
    private readonly index: CacheIndex,
    private readonly store: BlobStore,
    private readonly log: Logger,
    /** Manifests listing more layers (indexes: more manifests) are refused before anything of them is stored. */
    private readonly maxLayers = DEFAULT_MAX_LAYERS,
  ) {}

  /**
   * `signal`: the client's; once every client waiting for this manifest has gone (and no caller without a
   * signal waits, such as verification), the upstream request is abandoned.
   */
  async resolve(target: Target, ref: Reference, signal?: AbortSignal): Promise<FetchedManifest> {
    // A digest already held needs no flight: joining one costs an AbortController and listeners per request.
    if (ref.kind === 'digest') {
      const local = await this.cached(target, ref.digest);
      if (local) return local;
    }
    const key = `${target.canonical}@${ref.kind === 'tag' ? ref.tag : ref.digest}`;
    return this.flights.run(
      key,
      (flight) => (ref.kind === 'tag' ? this.byTag(target, ref.tag, flight) : this.byDigest(target, ref.digest, flight)),
      signal,
    );
  }

  /** A manifest by digest when we already hold it for this repository, without any upstream call. */
  async cached(target: Target, digest: Digest): Promise<FetchedManifest | undefined> {
    if (!(await this.index.inRepository(target.upstream.name, target.repository, digest))) return undefined;
    return this.load(digest, false);
  }

  private async byDigest(target: Target, digest: Digest, signal: AbortSignal): Promise<FetchedManifest> {
    const local = await this.cached(target, digest);
    if (local) return local;
    const fetched = await this.fetch(target, digest, signal).catch((err) => {
      throw toClientError(err, `manifest ${digest}`);
    });
    if (!fetched) throw new OciError('MANIFEST_UNKNOWN', `manifest ${digest} not found in ${target.canonical}`);
    return fetched;
  }

  private async byTag(target: Target, tag: string, signal: AbortSignal): Promise<FetchedManifest> {
    const { upstream, repository } = target;
    const cachedTag = await this.index.getTag(upstream.name, repository, tag);
    const cachedDigest = cachedTag && isDigest(cachedTag.digest) ? cachedTag.digest : undefined;
    if (cachedTag && cachedDigest && Date.now() - cachedTag.checkedAt < upstream.config.tagTtlMs) {
      const local = await this.load(cachedDigest, false);
      if (local) return local;
    }
    try {
      if (!cachedDigest) {
        // Nothing cached to compare with: a HEAD would only add a round trip before the GET.
        const fetched = await this.fetch(target, tag, signal);
        if (!fetched) throw new OciError('MANIFEST_UNKNOWN', `manifest "${tag}" not found in ${target.canonical}`);
        await this.index.putTag(upstream.name, repository, tag, fetched.digest);
        return fetched;
      }
      const head = await upstream.send('HEAD', repository, `${repository}/manifests/${tag}`, { accept: UPSTREAM_ACCEPT }, { signal });
      await head.body.dump();
      if (head.status === 404) throw new OciError('MANIFEST_UNKNOWN', `manifest "${tag}" not found in ${target.canonical}`);
      const headDigest = header(head.headers, 'docker-content-digest');
      if (head.status === 200 && headDigest && headDigest === cachedDigest) {
        const local = await this.load(cachedDigest, false);
        if (local) {
          await this.index.putTag(upstream.name, repository, tag, cachedDigest);
          return local;
        }
      }
      const reference = head.status === 200 && headDigest && isDigest(headDigest) ? headDigest : tag;
      const fetched = await this.fetch(target, reference, signal);
      if (!fetched) throw new OciError('MANIFEST_UNKNOWN', `manifest "${tag}" not found in ${target.canonical}`);
      await this.index.putTag(upstream.name, repository, tag, fetched.digest);
      return fetched;
    } catch (err) {
      if (cachedDigest && isFallbackWorthy(err)) {
        const local = await this.load(cachedDigest, true);
        if (local) {
          this.log.warn('serving cached tag; upstream failed', {
            upstream: upstream.name, repository, tag, error: (err as Error).message,
          });
          return local;
        }
      }
      throw toClientError(err, `manifest "${tag}"`);
    }
  }

  /** GETs a manifest upstream, checks it, stores it. Null when the upstream has no such manifest. */
  private async fetch(target: Target, reference: string, signal: AbortSignal): Promise<FetchedManifest | null> {
    const { upstream, repository } = target;
    const res = await upstream.send('GET', repository, `${repository}/manifests/${reference}`, { accept: UPSTREAM_ACCEPT }, { signal });
    if (res.status === 404) {
      await res.body.dump();
      return null;
    }
    if (res.status !== 200) {
      await res.body.dump();
      throw new UpstreamError('invalid', `upstream ${upstream.name} answered ${res.status} for a manifest`, res.status);
    }
    const bytes = await readLimitedBuffer(res.body, MAX_MANIFEST_BYTES).catch((err) => {
      throw err instanceof UpstreamError && err.kind === 'invalid' ? new OciError('MANIFEST_INVALID', `upstream manifest is larger than ${MAX_MANIFEST_BYTES} bytes`) : err;
    });
    const expected = isDigest(reference) ? reference : undefined;
    const digest = digestOf(bytes, expected ? digestAlgorithm(expected) : 'sha256');
    if (expected && digest !== expected) {
      throw new OciError('UPSTREAM_INVALID', `upstream manifest does not match its digest ${expected} (got ${digest})`);
    }
    const claimed = header(res.headers, 'docker-content-digest');
    if (!expected && claimed && isDigest(claimed) && digestAlgorithm(claimed) === 'sha256' && claimed !== digest) {
      throw new OciError('UPSTREAM_INVALID', `upstream manifest digest ${claimed} does not match its content ${digest}`);
    }
    const parsed = this.bounded(parseManifest(bytes, header(res.headers, 'content-type')));
    await this.store.putVerified(digest, bytes);
    this.remember(digest, bytes, parsed.mediaType, parsed);
    await this.index.putManifest(
      upstream.name,
      repository,
      { digest, mediaType: parsed.mediaType, size: bytes.length, isIndex: parsed.isIndex, subject: parsed.subject?.digest ?? null },
      parsed.manifests.map((m) => m.digest),
    );
    return { digest, bytes, mediaType: parsed.mediaType, parsed, cacheHit: false, stale: false };
  }

  private async load(digest: Digest, stale: boolean): Promise<FetchedManifest | undefined> {
    const hot = this.memory.get(digest);
    if (hot) {
      this.memory.delete(digest);
      this.memory.set(digest, hot);
      return { digest, ...hot, cacheHit: true, stale };
    }
    const meta = await this.index.getManifest(digest);
    if (!meta) return undefined;
    let bytes: Buffer;
    try {
      bytes = await this.store.read(digest);
    } catch {
      return undefined;
    }
    // Re-hash on every load: cheap for manifests, and a damaged file is refetched instead of served.
    if (bytes.length !== meta.size || digestOf(bytes, digestAlgorithm(digest)) !== digest) return undefined;
    const parsed = this.bounded(parseManifest(bytes, meta.mediaType));
    this.remember(digest, bytes, meta.mediaType, parsed);
    return { digest, bytes, mediaType: meta.mediaType, parsed, cacheHit: true, stale };
  }

  /**
   * Refuses a manifest that lists more than `pull.maxLayers` layers or manifests: each one becomes a database
   * row (a blob link, a child) and a check on every pull, so a 4 MiB manifest of 24,000 layers would cost as
   * much as thousands of real images.
   */
  private bounded(parsed: ParsedManifest): ParsedManifest {
    const count = parsed.isIndex ? parsed.manifests.length : parsed.layers.length;
    if (count > this.maxLayers) {
      const what = parsed.isIndex ? 'manifests' : 'layers';
      throw new OciError('MANIFEST_INVALID', `manifest lists ${count} ${what}; at most ${this.maxLayers} are accepted (pull.maxLayers)`);
    }
    return parsed;
  }

  /** Drops a manifest from memory (after a purge removed its file). */
  forget(digest: string): void {
    const entry = this.memory.get(digest);
    if (!entry) return;
    this.memory.delete(digest);
    this.memoryBytes -= entry.bytes.length;
  }

  private remember(digest: Digest, bytes: Buffer, mediaType: string, parsed: ParsedManifest): void {
    if (this.memory.has(digest) || bytes.length > MEMORY_BUDGET_BYTES / 16) return;
    this.memory.set(digest, { bytes, mediaType, parsed });
    this.memoryBytes += bytes.length;
    while (this.memoryBytes > MEMORY_BUDGET_BYTES) {
      const [oldest, entry] = this.memory.entries().next().value!;
      this.memory.delete(oldest);
      this.memoryBytes -= entry.bytes.length;
    }
  }
}
