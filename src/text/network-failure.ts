/**
 * Why a connection failed, in words an operator acts on ("DNS lookup of registry.k8s.io failed"), not the
 * bare system code (ENOTFOUND). Used for upstream registries and for the trusted-root refresh alike.
 */
type NetworkError = { code?: string; message?: string; hostname?: string; address?: string; port?: number; errors?: NetworkError[]; cause?: unknown };

const TLS_CODES = /^(CERT_|ERR_TLS_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_)/;

/** The words for a network error code, or undefined for an error that is not one. */
function knownFailure(e: NetworkError): string | undefined {
  // Some clients do not set hostname; the system message names it ("getaddrinfo ENOTFOUND host").
  const host = e.hostname ?? /(?:ENOTFOUND|EAI_AGAIN)\s+(\S+)/.exec(e.message ?? '')?.[1];
  const where = e.address ? `${e.address}${e.port ? `:${e.port}` : ''}` : (host ?? 'the server');
  switch (e.code) {
    case 'ENOTFOUND':
      return `DNS lookup of ${host ?? 'the host'} failed (no such host)`;
    case 'EAI_AGAIN':
      return `DNS lookup of ${host ?? 'the host'} failed (no answer from the DNS server)`;
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
      return 'the server stopped answering (idle timeout)';
    case 'UND_ERR_SOCKET':
      return 'the server closed the connection';
    default:
      return e.code && TLS_CODES.test(e.code) ? `TLS certificate of ${host ?? where} not accepted (${e.code}: ${e.message ?? ''})` : undefined;
  }
}

/** One failed request's reason: the words for its network error, else its code or message. */
export function networkFailureText(err: unknown): string {
  let e = (err ?? {}) as NetworkError;
  // Several addresses tried (IPv4 and IPv6): the first says it; a wrapped error says it in its cause.
  if (!e.code && e.errors?.[0]) e = { ...e.errors[0], hostname: e.hostname ?? e.errors[0].hostname };
  if (!e.code && e.cause && typeof e.cause === 'object') return networkFailureText(e.cause);
  return knownFailure(e) ?? e.code ?? e.message ?? String(err);
}

/** An error and its causes, outermost first, network errors in words: "error refreshing TUF metadata: DNS lookup of … failed". */
export function failureChainText(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const x = e as NetworkError;
    parts.push(knownFailure(x) ?? x.message ?? String(e));
    e = x.cause;
  }
  return parts.length > 0 ? parts.join(': ') : String(err);
}
