import type { CacheIndex } from '../db/cache-index.js';
import type { BlobStore } from '../store/blob-store.js';
import { OciError } from '../oci/errors.js';
import { digestAlgorithm, digestOf, type Digest } from '../oci/digest.js';
import { parseReference } from '../oci/reference.js';
import { MEDIA_TYPES } from '../oci/media-types.js';
import { header, readLimitedBuffer } from '../upstream/upstream-client.js';
import { UpstreamError } from '../upstream/errors.js';
import type { ArtifactSource } from '../verify/types.js';
import type { ManifestFetcher } from './manifest-fetcher.js';
import type { Target } from '../upstream/target.js';

const MAX_REFERRERS_BYTES = 4 * 1024 * 1024;

/**
 * How verification reaches signature artifacts of one repository: through the same cache as clients, so
 * evidence survives an upstream outage and `cosign verify` through the proxy is served locally.
 */
export function createArtifactSource(
  target: Target,
  manifests: ManifestFetcher,
  store: BlobStore,
  index: CacheIndex,
): ArtifactSource {
  return {
    async manifest(reference) {
      try {
        const m = await manifests.resolve(target, parseReference(reference));
        return { bytes: m.bytes, digest: m.digest, mediaType: m.mediaType };
      } catch (err) {
        if (err instanceof OciError && err.code === 'MANIFEST_UNKNOWN') return null;
        throw err;
      }
    },

    async blob(digest: Digest, maxBytes: number) {
      const size = await store.size(digest);
      if (size !== undefined) {
        if (size > maxBytes) throw new OciError('MANIFEST_INVALID', `artifact blob ${digest} is larger than ${maxBytes} bytes`);
        const bytes = await store.read(digest);
        if (digestOf(bytes, digestAlgorithm(digest)) === digest) return bytes;
      }
      const res = await target.upstream.send('GET', target.repository, `${target.repository}/blobs/${digest}`);
      if (res.status !== 200) {
        await res.body.dump();
        throw new UpstreamError(res.status === 404 ? 'invalid' : 'server-error', `artifact blob ${digest} answered ${res.status}`, res.status);
      }
      const bytes = await readLimitedBuffer(res.body, maxBytes);
      if (digestOf(bytes, digestAlgorithm(digest)) !== digest) {
        throw new OciError('UPSTREAM_INVALID', `artifact blob does not match its digest ${digest}`);
      }
      await store.putVerified(digest, bytes);
      await index.recordBlob(digest, bytes.length);
      return bytes;
    },

    async referrers(subject: Digest, next?: string) {
      const path = next ?? `${target.repository}/referrers/${subject}`;
      const res = await target.upstream.send('GET', target.repository, path, { accept: MEDIA_TYPES.ociIndex });
      if (res.status === 404 || res.status === 400 || res.status === 405) {
        await res.body.dump();
        return null;
      }
      if (res.status !== 200) {
        await res.body.dump();
        throw new UpstreamError('server-error', `referrers answered ${res.status}`, res.status);
      }
      const bytes = await readLimitedBuffer(res.body, MAX_REFERRERS_BYTES);
      return { bytes, next: nextPage(header(res.headers, 'link'), `${target.repository}/referrers/${subject}`) };
    },
  };
}

/**
 * The next page of a referrers list from its `Link: <…>; rel="next"` header, as a path under /v2/; only a
 * link to the same list is followed (a page cannot send the walk elsewhere).
 */
function nextPage(link: string | undefined, listPath: string): string | undefined {
  const target = link ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(link)?.[1] : undefined;
  if (!target) return undefined;
  let url: URL;
  try {
    url = new URL(target, 'http://upstream.invalid');
  } catch {
    return undefined;
  }
  const path = url.pathname.replace(/^\/v2\//, '');
  return path === listPath ? `${path}${url.search}` : undefined;
}
