/**
 * Why an upstream request failed, so pull/ can decide between cached fallback and an OCI error. `timeout`:
 * past its deadline or below its minimum transfer rate; `abandoned`: no client waits for it any more.
 */
export type UpstreamFailureKind = 'unreachable' | 'server-error' | 'rate-limited' | 'auth' | 'invalid' | 'timeout' | 'abandoned';

export class UpstreamError extends Error {
  constructor(
    readonly kind: UpstreamFailureKind,
    message: string,
    readonly status?: number,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}
