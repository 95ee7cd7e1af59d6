import { OciError } from '../oci/errors.js';
import { UpstreamError } from '../upstream/errors.js';

/** Turns an upstream failure into the OCI error the client sees. */
export function toClientError(err: unknown, what: string): OciError {
  if (err instanceof OciError) return err;
  if (err instanceof UpstreamError) {
    switch (err.kind) {
      case 'auth':
        return new OciError('DENIED', `${err.message} while fetching ${what} (missing or wrong upstream credentials, or no such repository)`);
      case 'rate-limited':
        return new OciError(
          'TOOMANYREQUESTS',
          `${err.message}; try again later`,
          undefined,
          err.retryAfterSeconds !== undefined ? { 'Retry-After': String(err.retryAfterSeconds) } : {},
        );
      case 'invalid':
        return new OciError('UPSTREAM_INVALID', `${err.message} while fetching ${what}`);
      case 'timeout':
        return new OciError('UPSTREAM_TIMEOUT', `${err.message} while fetching ${what}`);
      default:
        return new OciError('UPSTREAM_UNAVAILABLE', `${err.message} while fetching ${what}`);
    }
  }
  return new OciError('UPSTREAM_UNAVAILABLE', `fetching ${what} failed: ${(err as Error).message ?? String(err)}`);
}

/** Failures after which cached content is served instead (upstream down, rate limited, or refusing auth). */
export function isFallbackWorthy(err: unknown): boolean {
  if (err instanceof UpstreamError && err.kind === 'abandoned') return false;
  return err instanceof UpstreamError || (err instanceof OciError && err.code.startsWith('UPSTREAM_'));
}
