/**
 * `storage.offload.xAccelRedirect`: the URL path prefix of nginx's `internal` location that serves the store.
 * It is a location in nginx's URL space, so it must not be one the proxy itself serves (nginx would answer
 * those requests from the store, or 404 them), and it is pasted in front of a relative file path, so it must
 * be an absolute path ending in '/', without parts nginx would normalise away or read as a query.
 */
const SEGMENT_RE = /^[A-Za-z0-9._~-]+$/;

/** First path segments the proxy answers itself. */
const PROXY_ROOTS = new Set(['v2', 'api', 'ui', 'auth', 'healthz', 'readyz', 'metrics']);

/** What is wrong with a prefix, or undefined when nginx can be pointed at it. */
export function offloadPrefixProblem(prefix: string): string | undefined {
  if (!prefix.startsWith('/') || !prefix.endsWith('/') || prefix.length < 3) {
    return 'must be an absolute URL path ending in "/", such as "/_portcullis/store/"';
  }
  const segments = prefix.slice(1, -1).split('/');
  if (segments.some((s) => !SEGMENT_RE.test(s) || s === '.' || s === '..')) {
    return 'must be made of path segments of letters, digits, ".", "_", "~" or "-" (no "//", "." or ".." segments, no query)';
  }
  if (PROXY_ROOTS.has(segments[0]!)) return `must not be under /${segments[0]}/, which the proxy serves itself`;
  return undefined;
}
