import type { Digest } from '../oci/digest.js';

/**
 * Who serves the bytes of a committed blob when this process does not: nginx reading the store's file
 * (`X-Accel-Redirect` to an internal location), or the client fetching from object storage (a 307 to a
 * presigned URL). A handoff is asked for only after the request was allowed and its audit event committed,
 * so it never widens what is served, only who moves the bytes.
 */
export type Handoff =
  | { kind: 'internal-redirect'; uri: string }
  | { kind: 'redirect'; url: string };

/** The one seam for serving off the JavaScript thread; chosen by config, absent when the proxy streams itself. */
export interface BlobHandoff {
  /**
   * The handoff for a cached blob of `size` bytes, or undefined to stream it through the proxy. `viaTrustedProxy`:
   * the request's TCP peer is in `server.trustedProxies`.
   */
  handoff(digest: Digest, size: number, request: { viaTrustedProxy: boolean }): Promise<Handoff | undefined>;
}
