/** Why an upstream request failed, so pull/ can decide between cached fallback and an OCI error. */
export type UpstreamFailureKind = 'unreachable' | 'server-error' | 'rate-limited' | 'auth' | 'invalid';

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
