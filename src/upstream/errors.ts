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

type NetworkError = { code?: string; message?: string; hostname?: string; address?: string; port?: number; errors?: NetworkError[]; cause?: unknown };

const TLS_CODES = /^(CERT_|ERR_TLS_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_)/;

/**
 * Why a connection failed, in words an operator acts on ("DNS lookup of registry.k8s.io failed"), not the
 * bare system code (ENOTFOUND); TLS failures keep their code, which names the certificate problem.
 */
export function networkFailureText(err: unknown): string {
  let e = (err ?? {}) as NetworkError;
  // Several addresses tried (IPv4 and IPv6): the first says it; a wrapped error says it in its cause.
  if (!e.code && e.errors?.[0]) e = { ...e.errors[0], hostname: e.hostname ?? e.errors[0].hostname };
  if (!e.code && e.cause && typeof e.cause === 'object') return networkFailureText(e.cause);
  const where = e.address ? `${e.address}${e.port ? `:${e.port}` : ''}` : (e.hostname ?? 'the registry');
  switch (e.code) {
    case 'ENOTFOUND':
      return `DNS lookup of ${e.hostname ?? 'the registry host'} failed (no such host)`;
    case 'EAI_AGAIN':
      return `DNS lookup of ${e.hostname ?? 'the registry host'} failed (no answer from the DNS server)`;
    case 'ECONNREFUSED':
      return `connection to ${where} refused`;
    case 'ECONNRESET':
      return `connection to ${where} reset`;
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return `connecting to ${where} timed out`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `no route to ${where}`;
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return 'the registry stopped answering (idle timeout)';
    case 'UND_ERR_SOCKET':
      return 'the registry closed the connection';
    default:
      if (e.code && TLS_CODES.test(e.code)) return `TLS certificate of ${e.hostname ?? 'the registry'} not accepted (${e.code}: ${e.message ?? ''})`;
      return e.code ?? e.message ?? String(err);
  }
}
